"""`wmh package --name NAME`: build a BentoML bento for a built world model."""

from __future__ import annotations

from pathlib import Path

import typer

from wmh.cli.common import RootOption, console


def package(
    name: str = typer.Option(..., "--name", help="The built world model to package."),
    root: Path = RootOption,
    bentofile: Path = typer.Option(
        Path("bentofile.yaml"), "--bentofile", help="BentoML build file (default ./bentofile.yaml)."
    ),
) -> None:
    """Package a world model as a BentoML bento (then: bentoml serve TAG)."""
    from wmh.serving.package import package_model

    with console.status(f"packaging {name}…"):
        done = package_model(name, root, bentofile)
    unchanged = " (unchanged since it was last packaged: reused)" if done.reused else ""
    console.print(
        f"bento [bold]{done.bento_tag}[/] (model {done.model_tag}) at {done.bento_path}{unchanged}"
    )
    console.print(f"serve it: bentoml serve {done.bento_tag} --host 127.0.0.1 --port 3000")

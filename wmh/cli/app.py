"""The `wmh` typer app: registers one module per command group and turns errors into messages."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from wmh.cli import build as build_cmd
from wmh.cli import collect as collect_cmd
from wmh.cli import demo as demo_cmd
from wmh.cli import evaluate as eval_cmd
from wmh.cli import examples as examples_cmd
from wmh.cli import mcp as mcp_cmd
from wmh.cli import models as models_cmd
from wmh.cli import package as package_cmd
from wmh.cli import pipeline as pipeline_cmd
from wmh.cli import play as play_cmd
from wmh.cli import providers as providers_cmd
from wmh.cli import serve as serve_cmd
from wmh.cli import study as study_cmd
from wmh.cli import ui as ui_cmd
from wmh.errors import WmhError
from wmh.offline import apply_offline_defaults

app = typer.Typer(
    name="wmh",
    help="World-model harness: turn recorded agent traces into a simulated environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("build")(build_cmd.build)
app.command("list")(models_cmd.list_models)
app.command("play")(play_cmd.play)
app.add_typer(examples_cmd.app, name="examples")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(study_cmd.app, name="study")
app.add_typer(providers_cmd.app, name="providers")
app.command("ui")(ui_cmd.ui)
app.command("serve")(serve_cmd.serve)
app.command("package")(package_cmd.package)
app.command("demo")(demo_cmd.demo)
app.command("mcp")(mcp_cmd.mcp)
app.command("collect")(collect_cmd.collect)
app.add_typer(pipeline_cmd.app, name="pipeline")

err_console = Console(stderr=True)


def main() -> None:
    """Console entry point: a WmhError becomes one clear line and exit status 1."""
    apply_offline_defaults()  # before any command imports litellm, MLflow or BentoML
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except WmhError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(1)

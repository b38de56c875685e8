"""`wmh pipeline STAGE`: the build's stages as `dvc.yaml` runs them; `params.yaml` from conf/."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from wmh.cli.common import console
from wmh.errors import ConfigError
from wmh.pipeline.stage_names import STAGES

app = typer.Typer(
    no_args_is_help=True,
    help="The build as DVC stages (ingest, split, index, optimize, evaluate, package).",
)

ParamsOption = typer.Option(
    Path("params.yaml"), "--params", help="Resolved config to run with (dvc.yaml's params file)."
)


def _stage_command(stage: str) -> None:
    def command(params: Path = ParamsOption) -> None:
        from wmh.config.compose import settings_from_file
        from wmh.pipeline.stages import run_stage

        settings = settings_from_file(params)
        metrics = run_stage(stage, settings)
        shown = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in metrics.items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)
        )
        console.print(f"{stage} ({settings.name}): {shown}")

    command.__doc__ = f"Run the {stage} stage on the config in --params."
    app.command(stage)(command)


for _stage in STAGES:
    _stage_command(_stage)


@app.command("params")
def params(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides: name=shop data.path=x"),
    out: Path = typer.Option(Path("params.yaml"), "--out", help="File to write."),
    check: bool = typer.Option(
        False, "--check", help="Only check that the file matches conf/ (exit 1 when it drifted)."
    ),
) -> None:
    """Write params.yaml: conf/pipeline.yaml composed and resolved (as DVC's Hydra mode does)."""
    from wmh.config.compose import PIPELINE_CONFIG, compose_config, pipeline_params, to_settings
    from wmh.config.credentials import check_credentials

    text = pipeline_params(overrides or [])
    # The file is committed and read by every stage: no secret is written into it.
    check_credentials(to_settings(compose_config(overrides or [], PIPELINE_CONFIG)))
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            raise ConfigError(
                f"{out} differs from conf/ composed: regenerate it with wmh pipeline params"
            )
        console.print(f"{escape(str(out))} matches conf/")
        return
    if out.is_dir() or not out.parent.is_dir():
        where = "is a directory" if out.is_dir() else f"is in {out.parent}, which is no directory"
        raise ConfigError(f"{out} {where}: --out names the params file to write")
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(out))}")

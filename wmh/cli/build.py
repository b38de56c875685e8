"""`wmh build`: compose the config from flags and `-o key=value` overrides, then build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from wmh.cli.common import console
from wmh.core.text import counted

if TYPE_CHECKING:
    from wmh.config.schema import WmhConfig
    from wmh.pipeline.build import BuildResult


def build(
    name: str | None = typer.Option(None, "--name", "-n", help="Model name (.wmh/models/NAME)."),
    file: list[Path] = typer.Option([], "--file", "-f", help="Trace file (repeatable)."),
    override: list[str] = typer.Option(
        [], "--override", "-o", help="Hydra override key=value (repeatable), e.g. embedder=minilm."
    ),
    root: Path | None = typer.Option(None, "--root", help="Store root (default .wmh)."),
    no_interactive: bool = typer.Option(
        False, "--no-interactive", help="Never prompt; missing inputs are an error."
    ),
) -> None:
    """Build a world model from trace files (or a guided set of questions on a terminal)."""
    from wmh.cli.wizard import run_wizard
    from wmh.config.compose import check_trace_files, compose_config, file_overrides, to_settings

    overrides = list(override)
    given = (
        name is not None
        or file
        or any(o.startswith(("name=", "data.", "source")) for o in overrides)
    )
    if not given and not no_interactive and sys.stdin.isatty():
        overrides += run_wizard(console, root, overrides)
    settings = to_settings(
        compose_config([*overrides, *file_overrides(name, root, file, overrides)])
    )
    check_trace_files(settings, "; on a terminal, wmh build with no arguments asks for them")
    print_build(build_with_progress(settings))


def build_with_progress(settings: WmhConfig) -> BuildResult:
    """The build with a counted bar per stage on a terminal (steps embedded, held-out steps
    scored, GEPA iterations with the best valid score); off one, a line per finished stage."""
    from wmh.pipeline.build import build_world_model

    if not console.is_terminal:

        def done(stage: str, seconds: float) -> None:
            console.print(f"{stage} done in {seconds:.2f}s", highlight=False)

        return build_world_model(settings, on_done=done)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def started(stage: str) -> None:
            for task in tasks.values():
                progress.update(task, visible=False)
            tasks[stage] = progress.add_task(stage, total=None)

        def advanced(stage: str, done: int, total: int | None, detail: str) -> None:
            progress.update(
                tasks[stage], completed=done, total=total, description=f"{stage}: {detail}"
            )

        return build_world_model(settings, on_stage=started, on_progress=advanced)


def print_build(result: BuildResult) -> None:
    from wmh.ingest.split import SMALL_CORPUS

    card = result.card
    report = result.report
    table = Table(title=f"world model '{result.name}'", show_header=False, title_justify="left")
    table.add_row("path", str(result.path))
    table.add_row("ingested", report.summary())
    sizes = ", ".join(
        f"{part} {counted(v['traces'], 'trace')} / {counted(v['steps'], 'step')}"
        for part, v in card.split.items()
    )
    table.add_row("split", sizes)
    table.add_row("embedder", f"{card.embedder.kind} (dim {card.embedder.dim})")
    table.add_row("provider", card.provider)
    if result.heldout is not None:
        overall = result.heldout.overall
        refs = ", ".join(f"{k} {v:.3f}" for k, v in overall.baselines.items())
        total = result.heldout.sampled_from
        sample = (
            f" (a stable sample of whole traces: {total} held-out steps, "
            "split.heldout_max_steps; wmh eval scores them all)"
            if total
            else ""
        )
        table.add_row(
            "held-out fidelity",
            f"{overall.score:.3f} ({result.heldout.judge}, {overall.steps} steps{sample}; "
            f"baselines: {refs}; error-flag accuracy {overall.error_flag_accuracy:.3f})",
        )
    else:
        traces = sum(part["traces"] for part in card.split.values())
        why = (
            f"{traces} traces are too few to hold any out; all are indexed"
            if traces <= SMALL_CORPUS
            else "no trace fell in the test split (raise split.test)"
        )
        table.add_row("held-out fidelity", f"none: {why}")
    table.add_row("replay parts", card.replay_fit.summary())
    if result.answering is not None and result.answering.summary():
        table.add_row("answered by", result.answering.summary())
    evolved = result.evolve
    if evolved is not None and evolved.skipped:
        table.add_row("GEPA", evolved.skipped)
    elif evolved is not None:
        base = result.heldout_base.overall.score if result.heldout_base else None
        table.add_row(
            "GEPA",
            f"{evolved.rollouts} rollouts, {len(evolved.candidates)} candidates, "
            f"frontier {evolved.frontier_size}, best #{evolved.best_index}; held-out "
            f"base {base if base is not None else 'same prompt'}; scored on "
            f"{evolved.measured_on}",
        )
    if result.mlflow_run_id:
        table.add_row("MLflow run", result.mlflow_run_id)
    table.add_row("time", ", ".join(f"{k[:-2]} {v:.2f}s" for k, v in result.timings.items()))
    console.print(table)
    for warning in result.warnings():
        console.print(f"[bold red]warning:[/] {escape(warning)}")

"""`wmh examples list|run`: the shipped example environments."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from wmh.cli.common import console
from wmh.examples import find_examples, get_example, run_example

app = typer.Typer(help="Shipped example environments.", no_args_is_help=True)
DirOption = typer.Option(None, "--dir", help="Examples folder (default ./examples).")


@app.command("list")
def list_examples(directory: Path | None = DirOption) -> None:
    """List example tasks with a corpus or a run.sh."""
    tasks = find_examples(directory)
    if not tasks:
        console.print("no example tasks found")
        return
    table = Table("task", "corpus", "suites", "prebuilt model", "run.sh")
    for task in tasks:
        corpus = task.corpus
        size = f"{corpus.stat().st_size / 1e6:.1f} MB" if corpus else "-"
        table.add_row(
            task.name,
            size,
            ", ".join(s.stem for s in task.suites) or "-",
            "yes" if task.prebuilt else "-",
            "yes" if task.run_script else "-",
        )
    console.print(table)


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="Example task name."),
    directory: Path | None = DirOption,
) -> None:
    """Run an example's own helper script: wmh examples run TASK -- ARGS."""
    code = run_example(get_example(task, directory), ctx.args)
    raise typer.Exit(code)

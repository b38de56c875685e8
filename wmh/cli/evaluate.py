"""`wmh eval`: fidelity on held-out traces (`wmh eval FILES...`), suites, and saved results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from wmh.cli.common import RootOption, console, narrow_table
from wmh.cli.sim2real import sim2real
from wmh.core.text import counted
from wmh.errors import ConfigError
from wmh.scoring.modes import LoopMode

if TYPE_CHECKING:
    from wmh.eval.service import EvalOptions
    from wmh.scoring.runner import EvalReport, Fidelity


class EvalGroup(TyperGroup):
    """`wmh eval FILES...` runs the default `files` command; named subcommands work as usual."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["files", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=EvalGroup, no_args_is_help=True, help="Fidelity of a world model on held-out traces."
)


def _fmt(fidelity: Fidelity) -> list[str]:
    refs = "\n".join(f"{k} {v:.3f}" for k, v in fidelity.baselines.items())
    return [
        str(fidelity.steps),
        f"{fidelity.score:.3f} ± {fidelity.std:.3f}\n"
        f"[{fidelity.ci_low:.3f}, {fidelity.ci_high:.3f}]",
        f"{fidelity.error_flag_accuracy:.3f}",
        refs,
    ]


# Fidelity over its 95% interval; the error flag's accuracy; the baselines one to a line (each
# column no wider than its longest line, so the table fits 80 columns).
COLUMNS = ("steps", "fidelity ± std\n95% CI", "flag", "baselines")


def print_report(report: EvalReport) -> None:
    title = f"{report.model}" + (f" · suite {report.suite}" if report.suite else "")
    console.print(
        f"[bold]{title}[/]: {report.mode.value}, judge {report.judge}, "
        f"sample_turns {report.sample_turns}, {counted(report.traces, 'held-out trace')}, "
        f"prompt {report.prompt}, top_k {report.top_k}",
        markup=True,
    )
    if report.ingest:
        console.print(f"read: {report.ingest}", markup=False)
    if report.unseen_traces or report.seen_traces_skipped:
        console.print(
            f"{report.unseen_traces} traces the model never saw, scored whole; "
            f"{report.traces - report.unseen_traces} from its test part; "
            f"{report.seen_traces_skipped} it trained on left out"
        )
    for label, rows in (("file", report.per_file), ("tool", report.per_tool)):
        cells = [[key, *_fmt(fidelity)] for key, fidelity in rows.items()]
        console.print(narrow_table([label, *COLUMNS], cells))
    console.print(narrow_table(["overall", *COLUMNS], [["all", *_fmt(report.overall)]]))
    console.print("prediction sources: " + ", ".join(f"{k} {v}" for k, v in report.sources.items()))
    if report.usage:
        console.print("provider usage: " + ", ".join(f"{k} {v}" for k, v in report.usage.items()))
    if report.judge_usage:
        console.print(
            "judge usage: " + ", ".join(f"{k} {v}" for k, v in report.judge_usage.items())
        )
    if report.ungraded:
        console.print(
            f"[yellow]warning:[/] the {report.judge} judge gave no grade for {report.ungraded} "
            f"of its {report.judgements} judgements; they score 0 (each step's feedback says "
            "why)",
            markup=True,
        )


def _run(
    files: list[Path],
    name: str | None,
    root: Path,
    overrides: list[str],
    options: EvalOptions,
    out: Path | None,
) -> EvalReport:
    from wmh.eval.results import check_results_path, default_results_path, save_report, track_report
    from wmh.eval.service import evaluate

    if out is not None:  # before the work whose results it will hold
        check_results_path(out)
    if options.track:  # a tracking server that is down is said before the work, not after
        from wmh.tracking.mlflow_runs import check_server, tracking_uri

        check_server(tracking_uri(root), "run with --no-mlflow")
    with Progress(
        TextColumn("evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("eval", total=None)
        report = evaluate(
            files,
            name=name,
            root=root,
            overrides=overrides,
            options=options,
            on_plan=lambda total: progress.update(task, total=total),
            on_progress=lambda n: progress.advance(task, n),
        )
    path = save_report(report, out or default_results_path(root, report))
    print_report(report)
    console.print(f"results: {escape(str(path))}")
    if options.track:
        console.print(f"MLflow run: {track_report(report, path)}")
    return report


JudgeOption = typer.Option(
    None, "--judge", help="exact (or match) | structural | numeric | rubric (default: config)."
)
TurnsOption = typer.Option(
    "all", "--sample-turns", help="all | sampled (one seeded turn) | first | last | N per trace."
)
PromptOption = typer.Option(
    None, "--prompt", help="Evaluate this environment prompt file instead of the model's (LLM)."
)
TopKOption = typer.Option(None, "--top-k", help="Retrieved examples per step (default: model's).")
NoRagOption = typer.Option(
    False, "--no-rag", help="Zero-shot: no retrieved examples in the prompt (LLM providers)."
)
SeedOption = typer.Option(0, "--seed", help="Seed for sampled turns.")


def _limit(text: str) -> int | None:
    """`--limit N`, or `--limit all` (every held-out trace, as leaving it out does; what an
    MLproject entry point, which always passes it, gives by default)."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"a whole number or 'all', got {text!r}") from None


LimitOption = typer.Option(
    None,
    "--limit",
    parser=_limit,
    metavar="N|all",
    help="At most this many held-out traces (all: every one, the default).",
)
OutOption = typer.Option(None, "--out", help="Results JSON path.")
ConcurrencyOption = typer.Option(1, "--concurrency", help="Traces evaluated at once.")
ModeOption = typer.Option(
    LoopMode.OPEN, "--mode", help="open_loop (recorded history) or closed_loop (own predictions)."
)
TrackOption = typer.Option(True, "--mlflow/--no-mlflow", help="Log the run to MLflow.")


@app.command("files")
def eval_files(
    files: list[Path] = typer.Argument(
        None, help="Trace files (split by trace; test part scored)."
    ),
    name: str | None = typer.Option(None, "--name", "-n", help="Evaluate this built model."),
    root: Path = RootOption,
    override: list[str] = typer.Option([], "--override", "-o", help="Hydra override key=value."),
    judge: str | None = JudgeOption,
    sample_turns: str = TurnsOption,
    seed: int = SeedOption,
    limit: int | None = LimitOption,
    out: Path | None = OutOption,
    concurrency: int = ConcurrencyOption,
    mode: LoopMode = ModeOption,
    track: bool = TrackOption,
    prompt: Path | None = PromptOption,
    top_k: int | None = TopKOption,
    no_rag: bool = NoRagOption,
    embed_dim: int | None = typer.Option(
        None, "--embed-dim", help="Embedding size of the model built from FILES (no --name)."
    ),
) -> None:
    """Evaluate trace files, or a built model on its test part or on files.

    Files alone: a model is built on the fly and its test split is scored.
    With --name: the model's test part, or every trace of FILES it did not train on."""
    from wmh.eval.service import EvalOptions

    options = EvalOptions(
        judge=judge,
        sample_turns=sample_turns,
        seed=seed,
        limit=limit,
        mode=mode,
        concurrency=concurrency,
        track=track,
        prompt=prompt,
        top_k=top_k,
        no_rag=no_rag,
    )
    overrides = list(override)
    if embed_dim is not None:
        if name is not None:
            raise ConfigError(
                "--embed-dim changes the index: it applies to a model built from FILES, not to "
                f"the built model '{name}' (rebuild it with -o embedder.dim={embed_dim})"
            )
        overrides.append(f"embedder.dim={embed_dim}")
    _run(list(files or []), name, root, overrides, options, out)


@app.command("list")
def eval_list(
    directory: Path | None = typer.Option(None, "--dir", help="Examples folder."),
) -> None:
    """List the example eval suites."""
    from wmh.eval.suites import all_suites

    table = Table("suite", "title", "files", "judge", "provider", "sample_turns")
    suites, broken = all_suites(directory)
    for why in broken:
        console.print(f"skipped: {escape(why)}", style="yellow")
    for suite in suites:
        table.add_row(
            f"{suite.task}/{suite.name}",
            suite.title,
            ", ".join(suite.files),
            suite.judge,
            suite.provider,
            suite.sample_turns,
        )
    console.print(table)


@app.command("run")
def eval_run(
    suite_ref: str = typer.Argument(..., metavar="SUITE", help="TASK, TASK/SUITE or a .toml."),
    root: Path = RootOption,
    limit: int | None = LimitOption,
    out: Path | None = OutOption,
    concurrency: int = ConcurrencyOption,
    track: bool = TrackOption,
    directory: Path | None = typer.Option(None, "--dir", help="Examples folder."),
    override: list[str] = typer.Option(
        [], "--override", "-o", help="Hydra override key=value, after the suite's own."
    ),
) -> None:
    """Run an eval suite; results go to <root>/evals/<task>/<suite>/<timestamp>.json."""
    from wmh.eval.service import EvalOptions
    from wmh.eval.suites import resolve_suite

    suite = resolve_suite(suite_ref, directory)
    options = EvalOptions(
        judge=None,  # the suite's judge is one of its overrides, which `-o judge=` follows
        sample_turns=suite.sample_turns,
        seed=suite.seed,
        limit=limit,
        mode=LoopMode(suite.mode),
        concurrency=concurrency,
        suite=f"{suite.task}/{suite.name}",
        track=track,
        prompt=suite.prompt_file(),
        top_k=suite.top_k,
        no_rag=suite.no_rag,
    )
    _run(suite.trace_files(), None, root, [*suite.overrides(), *override], options, out)


@app.command("results")
def eval_results(
    suite: str | None = typer.Argument(None, help="Only this suite (TASK or TASK/SUITE)."),
    root: Path = RootOption,
) -> None:
    """Saved eval runs, newest first, with the change from the run before."""
    from wmh.eval.results import list_results

    runs, unreadable = list_results(root, suite)
    for why in unreadable:
        console.print(f"skipped: {escape(why)}", style="yellow")
    if not runs:
        keys = sorted({run.key for run in list_results(root)[0]}) if suite is not None else []
        if suite is not None and keys:
            console.print(
                f"no saved eval runs of '{escape(suite)}' under {escape(str(root / 'evals'))} "
                f"(saved: {escape(', '.join(keys))})"
            )
        else:
            console.print(f"no saved eval runs under {escape(str(root / 'evals'))}")
        return
    headers = ["when", "suite / model", "mode", "judge", "steps", "fidelity", "delta", "baselines"]
    cells = [
        [
            run.created_at[:16].replace("T", " "),
            run.key,
            run.mode,
            run.judge,
            str(run.steps),
            f"{run.score:.3f}",
            "" if run.delta is None else f"{run.delta:+.3f}",
            "\n".join(f"{k} {v:.3f}" for k, v in run.baselines.items()),
        ]
        for run in runs
    ]
    console.print(narrow_table(headers, cells))


app.command("sim2real")(sim2real)

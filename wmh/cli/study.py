"""`wmh study scaling|seeds`: fidelity against the number of training traces, or over split
seeds, as a sweep with one MLflow run per member, a summary table, a JSON and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from wmh.cli.common import console
from wmh.core.paths import check_output
from wmh.core.text import counted
from wmh.core.types import first_problem
from wmh.errors import ConfigError
from wmh.eval.study_report import Member, StudyReport

if TYPE_CHECKING:
    from wmh.config.schema import WmhConfig

app = typer.Typer(
    no_args_is_help=True,
    help="Fidelity studies: trace scaling and seed stability, as sweeps logged to MLflow.",
)

NameOption = typer.Option(
    None,
    "--name",
    "-n",
    help="Study name (default: the first file's name before its first dot, or its folder's "
    "for traces.otel.jsonl).",
)
FileOption = typer.Option([], "--file", "-f", help="Trace file (repeatable).")
OverrideOption = typer.Option(
    [], "--override", "-o", help="Hydra override, e.g. -o study.sizes=[5,10,20] -o provider=..."
)
RootOption = typer.Option(None, "--root", help="Store root (default .wmh).")
OutOption = typer.Option(None, "--out", help="Folder for results (<root>/studies/NAME/KIND).")
ParamsOption = typer.Option(
    None, "--params", help="Run with this resolved config (dvc.yaml's params.yaml)."
)
TrackOption = typer.Option(True, "--mlflow/--no-mlflow", help="One MLflow run per member.")


def _settings(
    name: str | None,
    files: list[Path],
    overrides: list[str],
    root: Path | None,
    params: Path | None,
) -> WmhConfig:
    from wmh.config.compose import (
        check_trace_files,
        compose_config,
        corpus_name,
        file_overrides,
        override_key,
        settings_from_file,
        to_settings,
    )
    from wmh.store.store import check_model_name

    if params is not None:
        if files or overrides or name or root is not None:
            raise ConfigError("--params takes the whole config: drop --name, --file, --root and -o")
        settings = settings_from_file(params)
    else:
        named = any(override_key(o) == "name" for o in overrides)
        if name is None and not named:  # (with no files, "no trace files" is said, not this)
            name = corpus_name(files, "study") if files else "study"
        settings = to_settings(
            compose_config([*overrides, *file_overrides(name, root, files, overrides)])
        )
        check_trace_files(settings)
    # Its results go to <root>/studies/<name>/: one folder's name, as a model's is.
    check_model_name(settings.name, "study")
    return settings


def _print(report: StudyReport) -> None:
    order = ["replay", "llm_gepa", "llm", "nn_copy", "action_copy", "most_frequent"]
    found = report.summary[0].mean if report.summary else {}
    names = [n for n in order if n in found]
    first = "train traces" if report.kind == "scaling" else "train traces (mean)"
    table = Table(first, "seeds", *names, title=f"{report.kind} study: {report.name}")
    for point in report.summary:
        # One seed has no spread to show.
        cells = [
            f"{point.mean[n]:.3f} ± {point.std[n]:.3f}"
            if point.seeds > 1
            else f"{point.mean[n]:.3f}"
            for n in names
        ]
        table.add_row(str(point.size), str(point.seeds), *cells)
    console.print(table)
    if report.beyond_pool:
        pool = report.sizes[-1]
        console.print(
            f"study.sizes {', '.join(map(str, report.beyond_pool))}: more than the {pool} "
            f"traces there are to train on; the curve ends at all {pool}",
            highlight=False,
        )


def _run(
    kind: str,
    name: str | None,
    files: list[Path],
    overrides: list[str],
    root: Path | None,
    out: Path | None,
    params: Path | None,
    track: bool,
) -> None:
    from wmh.eval.study import run_study

    settings = _settings(name, files, overrides, root, params)
    settings.track = settings.track and track
    folder = out or Path(settings.root) / "studies" / settings.name / kind
    check_output(folder, "the study's results", folder=True)  # before the study's minutes

    def progress(member: Member, done: int, total: int) -> None:
        scores = ", ".join(f"{k} {v:.3f}" for k, v in member.scores.items())
        console.print(
            f"[{done}/{total}] {counted(member.train_traces, 'trace')}, seed {member.seed}: "
            f"{scores} ({member.seconds:.1f}s)",
            highlight=False,
        )

    report, paths = run_study(settings, kind, folder, on_member=progress)
    _print(report)
    console.print(f"results: {paths['results']}\nplot: {paths['plot']}")
    if settings.track:
        console.print(f"MLflow experiment: {report.experiment} ({len(report.members)} member runs)")


KINDS = {
    "scaling": "Fidelity vs number of training traces: a fixed test set, nested train subsets of "
    "the sizes in study.sizes (and all), study.seeds shuffles each.",
    "seeds": "Fidelity over study.seeds different held-out splits (split.salt varied), all the "
    "rest trained on: how much the figure moves with the traces held out.",
}


def _study_command(kind: str) -> None:
    def command(
        name: str | None = NameOption,
        file: list[Path] = FileOption,
        override: list[str] = OverrideOption,
        root: Path | None = RootOption,
        out: Path | None = OutOption,
        params: Path | None = ParamsOption,
        track: bool = TrackOption,
    ) -> None:
        _run(kind, name, list(file), list(override), root, out, params, track)

    command.__doc__ = KINDS[kind]
    app.command(kind)(command)


for _kind in KINDS:
    _study_command(_kind)


@app.command("plot")
def plot(
    results: list[Path] = typer.Argument(..., help="results.json files of finished studies."),
    out: Path = typer.Option(..., "--out", help="Image to write (.png, .svg, .pdf, ...)."),
    columns: int = typer.Option(3, "--columns", min=1, help="Panels per row."),
) -> None:
    """Draw several finished studies side by side (one panel each), e.g. one per corpus."""
    from wmh.eval.study_plot import plot_studies

    reports = []
    for path in results:
        try:
            reports.append(StudyReport.model_validate_json(path.read_bytes()))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        except ValidationError as exc:
            raise ConfigError(
                f"{path}: not a study's results.json ({first_problem(exc)})"
            ) from None
    console.print(f"wrote {escape(str(plot_studies(reports, out, columns)))}")

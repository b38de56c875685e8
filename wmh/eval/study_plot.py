"""The study's plot: fidelity against the number of training traces, one line per predictor,
with the spread over seeds as a band (scaling), or each predictor's score per seed (seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wmh.core.paths import check_output
from wmh.errors import ConfigError

if TYPE_CHECKING:
    from wmh.eval.study_report import StudyReport

STYLE = {
    "replay": ("tab:blue", "-"),
    "llm_gepa": ("tab:green", "-"),
    "llm": ("tab:olive", "-"),
    "nn_copy": ("tab:orange", "--"),
    "action_copy": ("tab:red", ":"),
    "most_frequent": ("tab:gray", ":"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _check_out(path: Path) -> None:
    """ConfigError unless matplotlib writes `path` as named: a folder, or a suffix it has no
    writer for (none: it would write `path.png` and the path said would be another file)."""
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    if path.is_dir():
        raise ConfigError(f"{path} is a folder: --out names the image to write")
    if path.suffix.lower().lstrip(".") not in kinds:
        raise ConfigError(
            f"{path}: the image's suffix names its format, one of {', '.join(sorted(kinds))}"
        )
    check_output(path, "the image")


def _draw(ax: Any, report: StudyReport, title: str) -> None:
    names = [n for n in STYLE if any(n in p.mean for p in report.summary)]
    if report.kind == "scaling":
        xs = [p.size for p in report.summary]
        for name in names:
            color, line = STYLE[name]
            mean = [p.mean[name] for p in report.summary]
            std = [p.std[name] for p in report.summary]
            ax.plot(xs, mean, line, marker="o", color=color, label=name)
            ax.fill_between(
                xs,
                [m - s for m, s in zip(mean, std, strict=True)],
                [m + s for m, s in zip(mean, std, strict=True)],
                color=color,
                alpha=0.15,
            )
        ax.set_xscale("log")
        # A size just below the next (80 and 83) is left unlabelled rather than overprinted.
        labels = [
            str(x) if i == len(xs) - 1 or xs[i + 1] >= 1.3 * x else "" for i, x in enumerate(xs)
        ]
        ax.set_xticks(xs, labels)
        ax.set_xticks([], minor=True)  # only the sizes measured are labelled
        ax.set_xlabel("training traces (log scale)")
        ax.legend(loc="lower right", fontsize=8)
    else:
        for offset, name in enumerate(names):
            color, _ = STYLE[name]
            ys = [m.scores[name] for m in report.members if name in m.scores]
            ax.scatter([offset] * len(ys), ys, color=color, alpha=0.7)
            ax.errorbar(
                [offset], [report.summary[0].mean[name]], [report.summary[0].std[name]],
                color="black", capsize=6, marker="_", markersize=20,
            )  # fmt: skip
        ax.set_xticks(range(len(names)), names)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("fidelity (mean step score)")
    ax.grid(alpha=0.3)


def plot_study(report: StudyReport, path: Path) -> Path:
    """One study's plot."""
    _check_out(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if report.kind == "scaling":
        title = (
            f"{report.name}: held-out fidelity vs training traces "
            f"(mean ± std over {len(report.seeds)} seeds)"
        )
    else:
        title = f"{report.name}: held-out fidelity over {len(report.seeds)} split seeds"
    _draw(ax, report, title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _held_out(report: StudyReport) -> str:
    """How many traces were held out: one number, or the range over the seeds' splits."""
    counts = sorted({m.test_traces for m in report.members}) or [0]
    held = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{held} held out"


def plot_studies(reports: list[StudyReport], path: Path, columns: int = 3) -> Path:
    """Several studies side by side (one panel each), e.g. one per corpus."""
    if columns < 1:
        raise ConfigError(f"columns must be at least 1, got {columns}")
    _check_out(path)
    plt = _pyplot()
    columns = min(columns, max(len(reports), 1))  # no empty columns beside fewer studies
    rows = -(-len(reports) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.6 * columns, 3.6 * rows), dpi=80, squeeze=False
    )
    for ax, report in zip(axes.flat, reports, strict=False):
        _draw(ax, report, f"{report.name} ({report.corpus_traces} traces, {_held_out(report)})")
    for ax in list(axes.flat)[len(reports) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

"""The study's plot: fidelity against the number of training traces, one line per predictor,
with the spread over seeds as a band (scaling), or each predictor's score per seed (seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wmh.eval.study import StudyReport

STYLE = {
    "replay": ("tab:blue", "-"),
    "llm_gepa": ("tab:green", "-"),
    "llm": ("tab:olive", "-"),
    "nn_copy": ("tab:orange", "--"),
    "action_copy": ("tab:red", ":"),
    "most_frequent": ("tab:gray", ":"),
}


def plot_study(report: StudyReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    names = [n for n in STYLE if any(n in p.mean for p in report.summary)]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
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
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("training traces (log scale)")
        ax.set_title(
            f"{report.name}: held-out fidelity vs training traces "
            f"(mean ± std over {len(report.seeds)} seeds)"
        )
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
        ax.set_title(f"{report.name}: held-out fidelity over {len(report.seeds)} split seeds")
    ax.set_ylabel("fidelity (mean step score)")
    ax.grid(alpha=0.3)
    if report.kind == "scaling":
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

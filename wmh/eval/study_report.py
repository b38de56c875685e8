"""What a study measured: its members, the summary over seeds per size, and the files written
next to each other (results.json, curve.json for `dvc plots`, plot.png)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, Field


class Member(BaseModel):
    """One sweep member: a train size and a seed, its test set, and every predictor's score."""

    size: int
    seed: int
    train_traces: int
    test_traces: int
    test_steps: int
    scores: dict[str, float]
    replay_ci: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0
    run_id: str = ""


class Point(BaseModel):
    """A size's figures over its seeds: mean and standard deviation per predictor."""

    size: int
    seeds: int
    mean: dict[str, float]
    std: dict[str, float]


class StudyReport(BaseModel):
    kind: str
    name: str
    experiment: str
    corpus_traces: int
    sizes: list[int]
    seeds: list[int]
    # study.sizes beyond the traces there were to train on: the curve ends at all of them.
    beyond_pool: list[int] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)
    summary: list[Point] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)


def summarise(members: Sequence[Member], kind: str) -> list[Point]:
    """Mean and standard deviation over seeds per size (one point for the seeds study)."""
    groups: dict[int, list[Member]] = {}
    for member in members:
        groups.setdefault(0 if kind == "seeds" else member.size, []).append(member)
    points = []
    for size, group in sorted(groups.items()):
        names = sorted({k for m in group for k in m.scores})
        values = {k: np.array([m.scores[k] for m in group if k in m.scores]) for k in names}
        points.append(
            Point(
                size=size or round(float(np.mean([m.size for m in group]))),
                seeds=len(group),
                mean={k: round(float(v.mean()), 6) for k, v in values.items()},
                std={
                    k: round(float(v.std(ddof=1)), 6) if len(v) > 1 else 0.0
                    for k, v in values.items()
                },
            )
        )
    return points


def write_study(report: StudyReport, out_dir: Path) -> dict[str, Path]:
    """results.json (everything), curve.json (one row per size, for `dvc plots`), plot.png."""
    from wmh.eval.study_plot import plot_study

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out_dir / "results.json",
        "curve": out_dir / "curve.json",
        "plot": out_dir / "plot.png",
    }
    curve = [
        {"traces": p.size, **p.mean, **{f"{k}_std": v for k, v in p.std.items()}}
        for p in report.summary
    ]
    for key, data in (("results", report.model_dump(mode="json")), ("curve", curve)):
        tmp = paths[key].with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        tmp.replace(paths[key])
    plot_study(report, paths["plot"])
    return paths

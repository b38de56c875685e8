"""Log a build as an MLflow run: the resolved config (no secrets), what was ingested and split,
stage timings, GEPA progress per iteration, held-out fidelity (base and optimized) and cost, with
the prompts, frontier, metrics and config as artifacts. Tags link the run to the model directory
and the git commit."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

from wmh.config.compose import to_container
from wmh.config.schema import WmhConfig
from wmh.store.card import ModelCard
from wmh.store.layout import ModelFiles
from wmh.store.store import WorldModelStore
from wmh.tracking.mlflow_runs import log_run

log = logging.getLogger(__name__)


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def build_metrics(card: ModelCard, metrics: dict[str, Any]) -> dict[str, float]:
    figures: dict[str, float] = {
        "steps_ingested": card.ingest.steps,
        "traces_ingested": card.ingest.traces,
        "spans_skipped": card.ingest.skipped_spans,
    }
    for part, sizes in card.split.items():
        figures[f"split.{part}.steps"] = sizes["steps"]
        figures[f"split.{part}.traces"] = sizes["traces"]
    for stage, seconds in metrics.get("timings", {}).items():
        figures[f"time.{stage}"] = seconds
    heldout = metrics.get("heldout") or {}
    if heldout:
        figures["heldout.fidelity"] = heldout["overall"]["score"]
        figures["heldout.error_flag_accuracy"] = heldout["overall"]["error_flag_accuracy"]
        for name, score in heldout["overall"].get("baselines", {}).items():
            figures[f"heldout.baseline.{name}"] = score
        for tool, fidelity in heldout.get("per_tool", {}).items():
            figures[f"heldout.tool.{tool}"] = fidelity["score"]
        for key, value in heldout.get("usage", {}).items():
            figures[f"usage.{key}"] = value
    gepa = metrics.get("gepa", {})
    for key in ("rollouts", "frontier_size", "test_base", "test_optimized"):
        if isinstance(gepa.get(key), int | float):
            figures[f"gepa.{key}"] = gepa[key]
    return figures


def track_build(
    files: ModelFiles, settings: WmhConfig, card: ModelCard, metrics: dict[str, Any]
) -> str:
    """Log the build (from the staged model directory `files`); returns the run id, or '' when
    tracking failed (the build still stands)."""
    artifacts = files.tracked()
    steps = [(int(i), float(score)) for i, score in metrics.get("gepa", {}).get("progress", [])]
    tags = {
        "wmh.kind": "build",
        "wmh.model": settings.name,
        # Where the model will be published (the run is logged from its staging directory).
        "wmh.model_dir": str(WorldModelStore(Path(settings.root).resolve()).path(settings.name)),
        "wmh.provider": settings.provider.name,
        "mlflow.source.git.commit": git_commit(),
    }
    try:
        return log_run(
            settings.experiment or settings.name,
            f"build-{settings.name}",
            to_container(settings),
            build_metrics(card, metrics),
            artifacts,
            tags=tags,
            series={"gepa.best_valid": steps},
            root=settings.root,
        )
    except Exception as exc:  # noqa: BLE001 - tracking must never lose a finished build
        log.warning("MLflow tracking of build %s failed: %s", settings.name, exc)
        return ""

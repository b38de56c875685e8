"""Log a build as an MLflow run: the resolved config (no secrets), what was ingested and split,
stage timings, GEPA progress per iteration, held-out fidelity (base and optimized) and cost, with
the prompts, frontier, metrics and config as artifacts. Tags link the run to the model directory
and the git commit."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from wmh.config.compose import to_container
from wmh.config.schema import WmhConfig
from wmh.store.card import ModelCard
from wmh.store.layout import ModelFiles
from wmh.store.store import WorldModelStore
from wmh.tracking.mlflow_runs import log_run
from wmh.tracking.side import SideUnavailable, side_tracker

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
    """What a build is compared by: held-out fidelity and its interval, the copies beside it,
    the GEPA lift, the provider's cost, then the stage times. Counters go to `build_counts`,
    per-tool figures stay in the `metrics.json` artifact."""
    figures: dict[str, float] = {}
    heldout = metrics.get("heldout") or {}
    if heldout:
        overall = heldout["overall"]
        figures["heldout.fidelity"] = overall["score"]
        for name, score in sorted(overall.get("baselines", {}).items()):
            figures[f"heldout.baseline.{name}"] = score
        for key in ("ci_low", "ci_high", "error_flag_accuracy"):
            if isinstance(overall.get(key), int | float):
                figures[f"heldout.{key}"] = overall[key]
        cost = heldout.get("usage", {}).get("cost")
        if isinstance(cost, int | float):
            figures["usage.cost"] = cost
    route_cost = ((metrics.get("answering") or {}).get("usage") or {}).get("cost")
    if isinstance(route_cost, int | float):  # the LLM measured against replay on valid steps
        figures["usage.route_cost"] = route_cost
    gepa = metrics.get("gepa", {})
    spent = [u.get("cost") for u in (gepa.get("usage") or {}).values()]
    if spent and all(isinstance(cost, int | float) for cost in spent):
        figures["usage.gepa_cost"] = sum(spent)  # scoring candidates and reflecting
    base, optimized = gepa.get("test_base"), gepa.get("test_optimized")
    if isinstance(base, int | float) and isinstance(optimized, int | float):
        figures["gepa.lift"] = optimized - base
        figures["gepa.test_base"] = base
        figures["gepa.test_optimized"] = optimized
    timings = metrics.get("timings", {})
    for stage, seconds in timings.items():
        figures[f"time.{stage}"] = seconds
    if timings:
        figures["time.total_s"] = sum(timings.values())
    return figures


def build_note(metrics: dict[str, Any]) -> str:
    """The run's description (MLflow shows it above the metrics, in the first view): held-out
    fidelity with its interval, beside the copies, and what GEPA did."""
    heldout = metrics.get("heldout") or {}
    lines = []
    if heldout:
        overall = heldout["overall"]
        line = f"Held-out fidelity **{overall['score']:.3f}**"
        if isinstance(overall.get("ci_low"), int | float):
            line += f" (95% interval {overall['ci_low']:.3f}-{overall['ci_high']:.3f})"
        line += f" on {overall['steps']} steps"
        copies = ", ".join(f"{k} {v:.3f}" for k, v in sorted(overall.get("baselines", {}).items()))
        lines.append(line + (f"; baselines: {copies}." if copies else "."))
    else:
        lines.append("No held-out score (no test traces).")
    gepa = metrics.get("gepa", {})
    if gepa.get("skipped"):
        lines.append(f"GEPA: {gepa['skipped']}.")
    elif isinstance(gepa.get("test_optimized"), int | float):
        lines.append(
            f"GEPA: {gepa.get('rollouts', 0)} rollouts, held-out "
            f"{gepa['test_base']:.3f} -> {gepa['test_optimized']:.3f}."
        )
    return "\n\n".join(lines)


def build_counts(card: ModelCard, metrics: dict[str, Any]) -> dict[str, Any]:
    """How much went in: logged as params (`counts.*`), not as metrics to chart."""
    counts: dict[str, Any] = {
        "steps_ingested": card.ingest.steps,
        "traces_ingested": card.ingest.traces,
        "spans_skipped": card.ingest.skipped_spans,
    }
    for part, sizes in card.split.items():
        counts[f"split_{part}_steps"] = sizes["steps"]
        counts[f"split_{part}_traces"] = sizes["traces"]
    heldout = metrics.get("heldout") or {}
    if heldout:
        counts["heldout_steps"] = heldout["overall"]["steps"]
    for key, value in (heldout.get("usage") or {}).items():
        if key != "cost":
            whole = isinstance(value, float) and value.is_integer()
            counts[f"usage_{key}"] = int(value) if whole else value
    gepa = metrics.get("gepa", {})
    for key in ("rollouts", "frontier_size"):
        if isinstance(gepa.get(key), int | float):
            counts[f"gepa_{key}"] = gepa[key]
    return counts


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
        "mlflow.note.content": build_note(metrics),
        "mlflow.source.git.commit": git_commit(),
    }
    run = {
        "experiment": settings.experiment or settings.name,
        "run_name": f"build-{settings.name}",
        "params": {**to_container(settings), "counts": build_counts(card, metrics)},
        "metrics": build_metrics(card, metrics),
        "artifacts": artifacts,
        "tags": tags,
        "series": {"gepa.best_valid": steps},
        "root": settings.root,
        "started_at": time.time() - sum(metrics.get("timings", {}).values()),
    }
    tracker = side_tracker(settings.root)
    if tracker is not None:
        try:
            return tracker.log_run(**run)
        except SideUnavailable:
            log.warning("MLflow's side process is gone; logging build %s in process", settings.name)
        except Exception as exc:  # noqa: BLE001 - tracking must never lose a finished build
            # Not again in process: the side process may have begun the run.
            log.warning("MLflow tracking of build %s failed: %s", settings.name, exc)
            return ""
    try:
        return log_run(**run)
    except Exception as exc:  # noqa: BLE001 - tracking must never lose a finished build
        log.warning("MLflow tracking of build %s failed: %s", settings.name, exc)
        return ""

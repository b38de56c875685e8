"""Write a built model's directory (config, index, steps, prompts, frontier, metrics, card) and
publish it through the store.

The caller writes into a staging directory; the MLflow run of the build is logged from it before
the card (which names the run) is written last. Where each file goes is the store's
(`wmh.store.layout.ModelFiles`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

import wmh
from wmh.config.schema import WmhConfig
from wmh.engine.agreement import StoredSignatures
from wmh.engine.policy import FitReport
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.ingest.report import IngestReport
from wmh.ingest.split import Split
from wmh.optimize.evolve import EvolveResult
from wmh.pipeline.answering import Answering
from wmh.pipeline.clock import Clock
from wmh.retrieval.retriever import IndexRetriever
from wmh.scoring.runner import EvalReport
from wmh.store.card import ModelCard, write_card
from wmh.store.index import write_index, write_signatures
from wmh.store.layout import ModelFiles
from wmh.store.prompts import write_prompts
from wmh.store.settings import write_settings
from wmh.store.splits import write_steps
from wmh.store.store import WorldModelStore
from wmh.tracking.builds import track_build

log = logging.getLogger(__name__)


@dataclass
class BuiltModel:
    """Everything a build produced, ready to be written."""

    settings: WmhConfig
    split: Split
    retriever: IndexRetriever
    card: ModelCard
    heldout: EvalReport | None
    heldout_base: EvalReport | None
    evolved: EvolveResult
    timings: dict[str, float]
    answering: Answering | None = None
    signatures: StoredSignatures | None = None  # of the tools whose policy takes a consensus


def metrics_of(built: BuiltModel) -> dict[str, object]:
    evolved = built.evolved
    gepa: dict[str, object] = {
        "skipped": evolved.skipped,
        "rollouts": evolved.rollouts,
        "frontier_size": evolved.frontier_size,
        "best_candidate": evolved.best_index,
        "progress": evolved.progress,
        "usage": evolved.usage,
    }
    if built.heldout is not None and not evolved.skipped:
        gepa["test_optimized"] = built.heldout.overall.score
        base = built.heldout_base or built.heldout
        gepa["test_base"] = base.overall.score
    return {
        "heldout": built.heldout.model_dump(mode="json", exclude={"steps"})
        if built.heldout
        else None,
        "gepa": gepa,
        "replay_fit": built.card.replay_fit.model_dump(mode="json"),
        "split": built.card.split,
        "ingest": built.card.ingest.model_dump(),
        "timings": {k: round(v, 4) for k, v in built.timings.items()},
        "answering": built.answering.summary_dict() if built.answering else None,
    }


def _frontier(evolved: EvolveResult) -> dict[str, object]:
    return {
        "best": evolved.best_index,
        "rollouts": evolved.rollouts,
        "candidates": [asdict(c) for c in evolved.candidates],
    }


def write_model_dir(target: Path, built: BuiltModel) -> None:
    files = ModelFiles(target)
    evolved = built.evolved
    write_settings(files, built.settings)
    write_index(files.index_dir, built.retriever)
    write_signatures(files.index_dir, built.signatures)
    write_steps(files, built.split)
    optimized = None if evolved.skipped else evolved.best_prompt
    frontier = None if evolved.skipped else _frontier(evolved)
    write_prompts(files, base_prompt(), optimized, frontier)
    metrics = metrics_of(built)
    files.metrics.write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    if built.settings.track:
        built.card.mlflow_run_id = track_build(files, built.settings, built.card, metrics)
    write_card(files, built.card)


def make_card(
    settings: WmhConfig,
    answering: Answering,
    retriever: IndexRetriever,
    replay: ReplayPredictor,
    report: IngestReport,
    split: Split,
    heldout: EvalReport | None,
    evolved: EvolveResult,
    fit: FitReport | None = None,
) -> ModelCard:
    return ModelCard(
        name=settings.name,
        experiment=settings.experiment or settings.name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wmh_version=wmh.__version__,
        provider=settings.provider.name,
        provider_model=settings.provider.model,
        predictor=answering.predictor,
        replay_tools=list(answering.replay_tools),
        embedder=retriever.embedder.card,
        top_k=settings.retrieval.top_k,
        split=split.sizes(),
        ingest=report,
        error_style=replay.error_style,
        repeat_reliability=replay.repeat_reliability,
        state_writers=sorted(replay.state_writers),
        replay_policies=replay.policies,
        replay_fit=fit or FitReport(),
        heldout_score=heldout.overall.score if heldout else None,
        heldout_judge=heldout.judge if heldout else "",
        heldout_steps=heldout.overall.steps if heldout else 0,
        heldout_sampled_from=heldout.sampled_from if heldout else 0,
        rollouts=evolved.rollouts,
        frontier_size=evolved.frontier_size,
    )


def publish(
    settings: WmhConfig,
    answering: Answering,
    retriever: IndexRetriever,
    replay: ReplayPredictor,
    report: IngestReport,
    split: Split,
    reports: tuple[EvalReport | None, EvalReport | None],
    evolved: EvolveResult,
    timings: dict[str, float],
    clock: Clock,
    fit: FitReport | None = None,
) -> tuple[Path, ModelCard]:
    """Make the card, write the model directory into staging and rename it into place (logging
    the MLflow run on the way); returns where it now lives and its card. `reports` are the
    held-out reports of the model and of its baseline."""
    heldout, heldout_base = reports
    card = make_card(settings, answering, retriever, replay, report, split, heldout, evolved, fit)
    store = WorldModelStore(settings.root)
    with clock.stage("write"), store.staging(settings.name) as tmp:
        built = BuiltModel(
            settings, split, retriever, card, heldout, heldout_base, evolved, timings, answering,
            replay.consensus_signatures(),
        )  # fmt: skip
        write_model_dir(tmp, built)
    return store.path(settings.name), card

"""Build a named world model: ingest -> split -> embed -> index -> held-out check -> publish.

Everything is written into a staging directory and published in one rename, so a failure at any
stage leaves the previous model of that name untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

import wmh
from wmh.config.card import CARD_FILE, ModelCard
from wmh.config.compose import to_yaml
from wmh.config.schema import WmhConfig
from wmh.config.store import WorldModelStore, check_model_name
from wmh.core.types import Step, Trace
from wmh.engine.learnt import (
    learn_error_style,
    learn_repeat_reliability,
    learn_state_writers,
)
from wmh.engine.predictor import Predictor
from wmh.engine.predictors import make_predictor
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ConfigError, EmptyCorpusError
from wmh.eval.baselines import MostFrequentObservation, NearestNeighbourCopy
from wmh.eval.runner import EvalReport, evaluate_traces
from wmh.ingest.reader import IngestReport, read_traces
from wmh.ingest.split import PARTS, Split, split_traces
from wmh.optimize.judges import make_judge
from wmh.retrieval.embedders import Embedder, make_embedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import query_text

log = logging.getLogger(__name__)

StageCallback = Callable[[str], None]


@dataclass
class BuildResult:
    name: str
    path: Path
    card: ModelCard
    report: IngestReport
    heldout: EvalReport | None
    timings: dict[str, float] = field(default_factory=dict)


def _steps(traces: list[Trace]) -> list[Step]:
    return [step for trace in traces for step in trace.steps]


def embed_steps(embedder: Embedder, steps: list[Step], traces: dict[str, Trace]) -> np.ndarray:
    """Vectors for steps, each embedded with its task and the actions just before it."""
    texts = []
    for step in steps:
        history = traces[step.trace_id].steps
        recent = [s.action for s in history[max(0, step.index - 2) : step.index]]
        texts.append(query_text(step.action, step.task, recent))
    return embedder.embed(texts)


def check_settings(settings: WmhConfig) -> None:
    check_model_name(settings.name)
    if settings.retrieval.top_k < 1:
        raise ConfigError(f"retrieval.top_k must be at least 1, got {settings.retrieval.top_k}")


def build_world_model(settings: WmhConfig, on_stage: StageCallback | None = None) -> BuildResult:
    """Build and publish `<root>/models/<name>/` from `settings.data.files`."""
    check_settings(settings)
    stage = on_stage or (lambda _name: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    stage("ingest")
    ingested = read_traces(settings.data.files, skip_empty_traces=settings.data.skip_empty_traces)
    timings["ingest_s"] = time.perf_counter() - clock

    stage("split")
    clock = time.perf_counter()
    split = split_traces(
        ingested.traces,
        settings.split.train,
        settings.split.valid,
        settings.split.test,
        settings.split.salt,
    )
    train_steps = _steps(split.train)
    if not train_steps:
        raise EmptyCorpusError(
            f"the train split is empty: all {len(ingested.traces)} traces went to valid/test; "
            "add traces or raise split.train"
        )
    timings["split_s"] = time.perf_counter() - clock

    stage("embed")
    clock = time.perf_counter()
    embedder = make_embedder(
        settings.embedder.kind,
        settings.embedder.dim,
        settings.embedder.context_weight,
        settings.embedder.batch_size,
    )
    table = StepTable.from_steps(train_steps)
    by_id = {t.trace_id: t for t in split.train}
    vectors = embed_steps(embedder, [table.step(r) for r in range(len(table))], by_id)
    timings["embed_s"] = time.perf_counter() - clock

    stage("index")
    clock = time.perf_counter()
    index = PartitionedIndex.build(
        vectors, table.routes, settings.retrieval.index, settings.retrieval.flat_max, settings.seed
    )
    timings["index_s"] = time.perf_counter() - clock

    error_style = learn_error_style(train_steps)
    reliability = learn_repeat_reliability(t.steps for t in split.train)
    writers = learn_state_writers(t.steps for t in split.train)
    retriever = IndexRetriever(table, index, embedder)
    replay = ReplayPredictor(retriever, error_style, settings.retrieval.top_k, reliability, writers)
    predictor, provider = make_predictor(settings, retriever, replay, base_prompt())

    stage("evaluate")
    clock = time.perf_counter()
    heldout = None
    if split.test:
        baselines: list[Predictor] = [
            NearestNeighbourCopy(retriever),
            MostFrequentObservation(retriever),
        ]
        heldout = evaluate_traces(
            settings.name,
            predictor,
            split.test,
            make_judge(settings.judge.name, settings.judge, settings.provider),
            baselines=baselines,
        )
    timings["evaluate_s"] = time.perf_counter() - clock
    usage = getattr(provider, "usage", None)
    if heldout is not None and usage is not None:
        heldout.usage = usage.as_dict()

    card = ModelCard(
        name=settings.name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wmh_version=wmh.__version__,
        provider=settings.provider.name,
        provider_model=settings.provider.model,
        predictor=predictor.name,
        embedder=embedder.card,
        top_k=settings.retrieval.top_k,
        split=split.sizes(),
        ingest=ingested.report,
        error_style=error_style,
        repeat_reliability=reliability,
        state_writers=writers,
        heldout_score=heldout.overall.score if heldout else None,
        heldout_judge=heldout.judge if heldout else "",
        heldout_steps=heldout.overall.steps if heldout else 0,
    )

    stage("write")
    clock = time.perf_counter()
    store = WorldModelStore(settings.root)
    with store.staging(settings.name) as tmp:
        write_model_dir(tmp, settings, split, table, index, card, heldout, timings)
    timings["write_s"] = time.perf_counter() - clock
    path = store.path(settings.name)
    log.info("built %s at %s", settings.name, path)
    return BuildResult(settings.name, path, card, ingested.report, heldout, timings)


def write_model_dir(
    target: Path,
    settings: WmhConfig,
    split: Split,
    table: StepTable,
    index: PartitionedIndex,
    card: ModelCard,
    heldout: EvalReport | None,
    timings: dict[str, float],
) -> None:
    (target / "config.yaml").write_text(to_yaml(settings), encoding="utf-8")
    steps_dir = target / "steps"
    steps_dir.mkdir()
    table.save(steps_dir / "train.jsonl", target / "index" / "columns.json")
    sources = {t.trace_id: t.source for part in PARTS for t in split.part(part)}
    (steps_dir / "sources.json").write_bytes(orjson.dumps(sources))
    for part in PARTS[1:]:
        with (steps_dir / f"{part}.jsonl").open("wb") as out:
            for step in _steps(split.part(part)):
                out.write(step.model_dump_json().encode() + b"\n")
    index.save(target / "index")
    (target / "index" / "embedder.json").write_text(card.embedder.model_dump_json(indent=2))
    prompts = target / "prompts"
    prompts.mkdir()
    (prompts / "base.txt").write_text(base_prompt(), encoding="utf-8")
    metrics = {
        "heldout": heldout.model_dump(mode="json", exclude={"steps"}) if heldout else None,
        "split": card.split,
        "ingest": card.ingest.model_dump(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    (target / "metrics.json").write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    (target / CARD_FILE).write_text(card.model_dump_json(indent=2), encoding="utf-8")

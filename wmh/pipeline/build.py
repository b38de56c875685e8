"""Build a named world model: ingest -> split -> embed -> index -> optimize -> held-out check ->
publish, and log the build as an MLflow run.

Everything is written into a staging directory and published in one rename, so a failure at any
stage leaves the previous model of that name untouched.
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from wmh.config.compose import to_settings
from wmh.config.credentials import check_credentials
from wmh.config.schema import EmbedderConfig, WmhConfig
from wmh.core.canonical import short_hash
from wmh.core.stored import StoredTraces, trace_ids
from wmh.core.types import Step, Trace
from wmh.engine.learnt import Lessons
from wmh.engine.policy import FitReport
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ConfigError
from wmh.ingest.report import IngestReport
from wmh.ingest.sources import ingest_into
from wmh.ingest.split import PARTS, empty_train, split_stored
from wmh.optimize.evolve import EvolveResult, check_gepa_settings, evolve_prompt
from wmh.pipeline.answering import Answering, check_route, heldout_reports
from wmh.pipeline.artifacts import publish
from wmh.pipeline.checks import check_gepa_errors, check_provider_errors, check_providers_answer
from wmh.pipeline.clock import Clock, DoneCallback, ProgressCallback, StageCallback
from wmh.pipeline.corpus import Corpus
from wmh.pipeline.fit_replay import fit_policies
from wmh.providers.llm import provider_time_budget
from wmh.retrieval.context import ContextColumns
from wmh.retrieval.embedders import MINILM_DIM, make_embedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable, first_rows
from wmh.retrieval.text import QueryText, query_context
from wmh.scoring.factory import make_judge
from wmh.scoring.runner import EvalReport
from wmh.store.card import ModelCard
from wmh.store.store import WorldModelStore, check_model_name
from wmh.tracking.side import tracking_ahead

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    name: str
    path: Path
    card: ModelCard
    report: IngestReport
    heldout: EvalReport | None
    timings: dict[str, float] = field(default_factory=dict)
    evolve: EvolveResult | None = None
    heldout_base: EvalReport | None = None
    mlflow_run_id: str = ""
    fit: FitReport | None = None
    answering: Answering | None = None

    def warnings(self) -> list[str]:
        """What a person must know before using the model: an LLM model that scores below
        replay or copying the nearest recorded call on held-out steps; a GEPA run that could
        not propose a prompt."""
        return (self.evolve.notes if self.evolve else []) + self._below_copy()

    def _below_copy(self) -> list[str]:
        if self.card.predictor != "llm" or self.heldout is None:
            return []
        overall = self.heldout.overall
        if not overall.baselines:
            return []
        copy, score = max(overall.baselines.items(), key=lambda item: item[1])
        if overall.score >= score:
            return []
        return [
            f"the LLM model scores {overall.score:.3f} on held-out steps, below {copy} "
            f"({score:.3f}), which answers them better without an LLM. Look at its "
            f"answers (wmh eval --name {self.name}) or build with provider=replay."
        ]


def embed_texts(corpus: Corpus, steps: Sequence[int]) -> list[QueryText]:
    """Retrieval texts of a corpus's steps (by number): each with its task and the names of
    the actions just before it, as `query_text` makes them for a query."""
    texts, tasks = corpus.texts, corpus.tasks
    return [
        QueryText(
            texts[corpus.text_of[i]],
            query_context(tasks[corpus.task_of[i]], corpus.window_names(i)),
        )
        for i in steps
    ]


def check_settings(settings: WmhConfig) -> None:
    check_model_name(settings.name)
    check_route(settings)
    if not 0 <= settings.seed < 2**31:  # FAISS's clustering takes a 32-bit seed
        raise ConfigError(f"seed must be from 0 to 2147483647, got {settings.seed}")
    check_gepa_settings(settings)
    if settings.retrieval.top_k < 1:
        raise ConfigError(f"retrieval.top_k must be at least 1, got {settings.retrieval.top_k}")
    if settings.split.heldout_max_steps < 0:
        raise ConfigError(
            f"split.heldout_max_steps must be 0 (score every held-out step) or more, got "
            f"{settings.split.heldout_max_steps}"
        )
    weight = settings.embedder.context_weight
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"embedder.context_weight must be a number 0 or more, got {weight}")
    check_embedder_settings(settings.embedder)
    check_credentials(settings)


def check_embedder_settings(embedder: EmbedderConfig) -> None:
    """ConfigError for a setting the chosen embedder would ignore or fail on, before the build
    (MiniLM's vectors have its own 384 dimensions, and only hashing mixes in the context)."""
    if embedder.batch_size < 1:
        raise ConfigError(f"embedder.batch_size must be at least 1, got {embedder.batch_size}")
    if embedder.kind == "minilm" and embedder.dim != MINILM_DIM:
        raise ConfigError(
            f"embedder=minilm makes {MINILM_DIM}-dimensional vectors: embedder.dim="
            f"{embedder.dim} cannot change that (embedder=hashing takes any dim)"
        )
    if embedder.kind != "hashing" and embedder.context_weight:
        raise ConfigError(
            f"embedder.context_weight={embedder.context_weight} is read only by "
            f"embedder=hashing; embedder={embedder.kind} embeds the call and its context as one "
            "text"
        )
    if embedder.kind == "hashing" and embedder.dim < 8:
        raise ConfigError(f"embedder.dim must be at least 8, got {embedder.dim}")


def index_traces(settings: WmhConfig, traces: Sequence[Trace], clock: Clock) -> IndexRetriever:
    """Embed the traces' steps and build the per-tool index over them (its rows read the
    caller's step objects)."""
    steps = [s for t in traces for s in t.steps]
    return index_corpus(settings, Corpus.of(traces), clock, parsed=steps)


def index_corpus(
    settings: WmhConfig,
    corpus: Corpus,
    clock: Clock,
    order: Sequence[int] | None = None,
    parsed: Sequence[Step] | None = None,
) -> IndexRetriever:
    """Embed the corpus's steps and build the per-tool index over them; with `order`, the
    traces (by number) in the order their steps take in the index (each route's rows in it);
    with `parsed`, the corpus's steps as objects, in its order, for the rows to read."""
    with clock.stage("embed"):
        config = settings.embedder
        embedder = make_embedder(
            config.kind,
            config.dim,
            config.context_weight,
            config.batch_size,
            config.model,
            config.api_base,
        )
        store, ids = corpus.store, corpus.store.ids
        traces = range(len(store)) if order is None else order
        steps = [i for n in traces for i in range(store.starts[n], store.starts[n + 1])]
        table, rows = StepTable.from_columns(
            [store.rows[i] for i in steps],
            [ids[corpus.trace_of[i]] for i in steps],
            [corpus.routes[i] for i in steps],
            [corpus.keys[corpus.key_of[i]] for i in steps],
            [corpus.chars[i] for i in steps],
            None if parsed is None else [parsed[i] for i in steps],
        )
        step_of = [steps[row] for row in rows]  # the corpus's step each row holds
        context = ContextColumns.of_numbers(
            [corpus.task_of[i] for i in step_of],
            corpus.tasks,
            corpus.window_texts()[step_of],
            corpus.texts,
        )
    with clock.stage("index"):
        # When a step's vector is its call's alone, each distinct call is embedded and indexed
        # once (its first row stands for the rest; the others' vectors are never read).
        groups = table.call_groups() if getattr(embedder, "vectors_follow_action", False) else None
        wanted = np.ones(len(table), dtype=bool) if groups is None else first_rows(groups)

        def embed(start: int, end: int) -> np.ndarray:
            picked = [step_of[start + i] for i in np.flatnonzero(wanted[start:end]).tolist()]
            vectors = embedder.embed(embed_texts(corpus, picked))
            clock.advance(end - start, len(table), "steps embedded")
            return vectors

        index = PartitionedIndex.build(
            embed,
            table.routes,
            settings.retrieval.index,
            settings.retrieval.flat_max,
            settings.seed,
            groups,
        )
    return IndexRetriever(table, index, embedder, context)


def make_replay(retriever: IndexRetriever, lessons: Lessons, top_k: int) -> ReplayPredictor:
    """The replay predictor over an index, with what it learnt from the corpus."""
    return ReplayPredictor(
        retriever,
        lessons.error_style(),
        top_k,
        lessons.repeat_reliability(),
        lessons.state_writers(),
    )


def fit_replay(
    settings: WmhConfig,
    retriever: IndexRetriever,
    known: Sequence[Trace],
    clock: Clock,
    lessons: Lessons | None = None,
) -> tuple[ReplayPredictor, FitReport]:
    """The replay predictor over `retriever`, with what it learns from the `known` traces (or
    `lessons`, what they taught as they were ingested) and each tool's parts chosen on
    held-apart steps of them.

    Measured with the build's judge; an LLM-graded judge would make every build call the
    provider thousands of times, so `rubric` builds measure with `structural` instead."""
    name = settings.judge.name if settings.judge.name != "rubric" else "structural"
    judge = make_judge(name, settings.judge, settings.provider)
    with clock.stage("fit"):
        taught = lessons if lessons is not None else Lessons.of(t.steps for t in known)
        replay = make_replay(retriever, taught, settings.retrieval.top_k)
        policies, report = fit_policies(replay, known, judge)
    return replay.with_policies(policies), report


def gepa_run_dir(settings: WmhConfig) -> Path:
    """Where GEPA keeps its state: the same settings resume the same run (a larger budget
    continues it; an interrupted build picks up from the last saved iteration). Within it, a
    folder per set of steps scored (`evolve_prompt`): the same settings on other traces start
    afresh."""
    gepa = settings.gepa
    key = short_hash(
        repr(
            (
                settings.data.files,
                settings.data.path,
                settings.split,
                settings.provider.name,
                settings.provider.model,
                settings.provider.api_base,
                settings.provider.temperature,
                settings.predictor.max_prompt_tokens,
                settings.judge.model,
                base_prompt(),
                gepa.reflection_model,
                gepa.seed,
                gepa.valset_size,
                gepa.minibatch_size,
                gepa.candidate_selection,
                gepa.use_merge,
                settings.judge.name,
                settings.retrieval,  # the index the prompt's examples come from
                settings.embedder,
            )
        )
    )
    return Path(settings.root) / "gepa" / f"{settings.name}-{key}"


def build_world_model(
    settings: WmhConfig | DictConfig,
    on_stage: StageCallback | None = None,
    on_progress: ProgressCallback | None = None,
    on_done: DoneCallback | None = None,
) -> BuildResult:
    """Build and publish `<root>/models/<name>/` from `settings.data.files`; a provider that does
    not answer, or fails on too many measured steps, stops the build before anything is
    published, and all its provider calls share `provider.build_time_s`. The callbacks hear of
    each stage, its progress and its end (`pipeline/clock.py`). `settings` may be what
    `compose_config` returns, as the README shows; it is checked against the schema first."""
    if not isinstance(settings, WmhConfig):
        settings = to_settings(settings)  # it failed at the very end, writing config.yaml
    check_settings(settings)
    WorldModelStore(settings.root).check_writable()
    check_providers_answer(settings)
    # MLflow is imported and its store opened in a side process while the build works.
    ahead = tracking_ahead(settings.root) if settings.track else nullcontext()
    with provider_time_budget(settings.provider.build_time_s), ahead:
        try:
            return _build(settings, Clock(on_stage, on_progress, on_done))
        finally:
            gc.unfreeze()  # what ingest froze (`lasting_objects`)


@contextmanager
def lasting_objects() -> Iterator[None]:
    """Ingest makes objects per span that live until their trace is assembled, and the corpus
    keeps a few per step until the build ends: the cyclic garbage collector, which would scan
    them over and over (half of ingest's time at 100k steps), pauses while they are made and
    then leaves what is left out (`gc.freeze`) until the end."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        gc.freeze()


def _build(settings: WmhConfig, clock: Clock) -> BuildResult:
    # Each trace is folded into the corpus as it is assembled: its lines, index columns and
    # lessons stay, its objects go.
    corpus = Corpus(settings.split)
    with clock.stage("ingest"), lasting_objects():
        report = ingest_into(settings, corpus.add)
    with clock.stage("split"):
        split = split_stored(corpus.store, settings.split)
    if not split.train:
        raise empty_train(len(corpus.store))
    # One index over every trace; the held-out traces stay hidden from it until publishing.
    published = index_corpus(settings, corpus, clock, split.numbers(*PARTS))
    retriever = published.hiding(frozenset(trace_ids(split.test)))
    known = StoredTraces(corpus.store, split.numbers("train", "valid"))
    replay, fit = fit_replay(settings, retriever, known, clock, corpus.taught())

    def gepa_progress(iteration: int, best: float) -> None:
        clock.report(iteration, None, f"iterations, best valid {best:.3f}")

    with clock.stage("optimize"):
        evolved = evolve_prompt(
            settings, base_prompt(), split.valid, retriever, replay, gepa_run_dir(settings),
            on_iteration=gepa_progress, train=split.train,
        )  # fmt: skip
    if evolved.skipped:
        log.info("%s", evolved.skipped)
    check_gepa_errors(settings, evolved)
    with clock.stage("evaluate"):
        answering, heldout, heldout_base = heldout_reports(
            settings, retriever, replay, evolved, split.test, split.valid, clock
        )
    check_provider_errors(settings, [answering.report, heldout, heldout_base])
    path, card = publish(
        settings, answering, published, replay.with_policies(replay.policies, published),
        report, split, (heldout, heldout_base), evolved, clock.timings, clock, fit,
    )  # fmt: skip
    log.info("built %s at %s", settings.name, path)
    return BuildResult(
        settings.name,
        path,
        card,
        report,
        heldout,
        clock.timings,
        evolved,
        heldout_base,
        card.mlflow_run_id,
        fit,
        answering,
    )

"""The build as file-based stages for `dvc.yaml`: ingest, split, index, optimize, evaluate, package.
Each stage reads the resolved config (`params.yaml`) and the files of the stages before it, and
writes its own outputs under `<root>/pipeline/<name>/`, so DVC reruns only the stages whose deps or
params changed. `package` assembles the same model directory `wmh build` writes, publishes it
through the store (staging + rename) and logs the MLflow run. Where the outputs live and how
they are written safely is `stage_files.py`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import orjson

from wmh.config.schema import WmhConfig
from wmh.core.stored import StoredTraces, TraceRows, trace_ids
from wmh.core.types import Trace
from wmh.engine.learnt import ErrorStyle, Lessons
from wmh.engine.policy import FitReport, ReplayPolicies
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.errors import StoreError
from wmh.ingest.report import IngestReport
from wmh.ingest.sources import ingest_into
from wmh.ingest.split import PARTS, StoredSplit, empty_train, split_numbers
from wmh.optimize.evolve import EvolveResult, FrontierCandidate, evolve_prompt
from wmh.pipeline.answering import Answering, heldout_reports
from wmh.pipeline.artifacts import publish
from wmh.pipeline.build import (
    check_settings,
    fit_replay,
    gepa_run_dir,
    index_corpus,
    lasting_objects,
)
from wmh.pipeline.checks import check_gepa_errors, check_provider_errors, check_providers_answer
from wmh.pipeline.clock import Clock
from wmh.pipeline.corpus import Corpus
from wmh.pipeline.stage_files import (
    StageDir,
    dump_json,
    iter_traces,
    output_dir,
    read_json,
    trace_line,
    write_file,
)
from wmh.pipeline.stage_names import PROVIDER_STAGES, STAGES
from wmh.providers.llm import provider_time_budget
from wmh.retrieval.retriever import IndexRetriever
from wmh.scoring.runner import EvalReport
from wmh.store.index import load_retriever, write_index

log = logging.getLogger(__name__)


def ingest(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    """Each trace written as ingest assembles it (none held: as `wmh build` streams them)."""
    clock = Clock(None)
    with output_dir(out.ingest) as tmp:
        ingested = (tmp / "traces.jsonl").open("wb")
        with clock.stage("ingest"), lasting_objects(), ingested as traces:

            def write(trace: Trace) -> None:
                traces.write(trace_line(trace))

            report = ingest_into(settings, write)
        (tmp / "report.json").write_bytes(dump_json(report.model_dump()))
    metrics = {
        "spans": report.spans,
        "traces": report.traces,
        "steps": report.steps,
        "skipped_spans": report.skipped_spans,
        "duplicate_spans": report.duplicate_spans,
        "not_read": len(report.not_read),
        "unanswered_tool_calls": report.unanswered_tool_calls,
        "unanswered_messages": report.unanswered_messages,
        "wrapped_arguments": report.wrapped_arguments,
        "broken_arguments": report.broken_arguments,
        "nameless_tool_calls": report.nameless_tool_calls,
        "empty_traces": len(report.empty_traces),
        **clock.timings,
    }
    write_file(out.metrics("ingest"), dump_json(metrics))
    return metrics


def _fold_split(
    out: StageDir, take: Callable[[str, Trace], None], parts: tuple[str, ...] = PARTS
) -> None:
    """Each trace of the split stage's parts, in order (train, valid, test), one at a time."""
    for part in parts:
        for trace in iter_traces(out.split / f"{part}.jsonl", "split"):
            take(part, trace)


def _load_split(out: StageDir, parts: tuple[str, ...] = PARTS) -> StoredSplit:
    """The split stage's parts (the others left empty), held as their steps' lines."""
    store = TraceRows()
    numbers: dict[str, list[int]] = {part: [] for part in PARTS}

    def take(part: str, trace: Trace) -> None:
        numbers[part].append(len(store))
        store.add(trace)

    with lasting_objects():
        _fold_split(out, take, parts)
    return StoredSplit(*(StoredTraces(store, numbers[part]) for part in PARTS))


def split(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    """The ingested traces split by id, each read and checked one at a time and held as its
    line only."""
    clock = Clock(None)
    lines: list[bytes] = []
    ids: list[str] = []
    sizes: list[int] = []
    for trace in iter_traces(out.ingest / "traces.jsonl", "ingest"):
        lines.append(trace_line(trace))
        ids.append(trace.trace_id)
        sizes.append(len(trace.steps))
    config = settings.split
    with clock.stage("split"):
        parts = split_numbers(ids, config.train, config.valid, config.test, config.salt)
    if not parts["train"]:
        raise empty_train(len(ids))
    with output_dir(out.split) as tmp:
        for part in PARTS:
            with (tmp / f"{part}.jsonl").open("wb") as written:
                written.writelines(lines[n] for n in parts[part])
    counted = {
        part: {"traces": len(parts[part]), "steps": sum(sizes[n] for n in parts[part])}
        for part in PARTS
    }
    metrics: dict[str, Any] = {**counted, **clock.timings}
    write_file(out.metrics("split"), dump_json(metrics))
    return metrics


def index(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    """Index every trace (the test traces hidden while the replay parts are chosen)."""
    clock = Clock(None)
    # The parts folded in one trace at a time (as `wmh build` folds ingest's), train and
    # valid teaching the replay model.
    corpus, lessons = Corpus(), Lessons()
    parts: dict[str, list[int]] = {part: [] for part in PARTS}

    def take(part: str, trace: Trace) -> None:
        parts[part].append(len(corpus.store))
        corpus.add(trace)
        if part != "test":
            lessons.add(trace.steps)

    with lasting_objects():
        _fold_split(out, take)
    published = index_corpus(settings, corpus, clock)
    known = StoredTraces(corpus.store, [*parts["train"], *parts["valid"]])
    retriever = published.hiding(frozenset(corpus.store.ids[n] for n in parts["test"]))
    replay, fit = fit_replay(settings, retriever, known, clock, lessons)
    with output_dir(out.index) as tmp:
        write_index(tmp, published)
        learnt = {
            "error_style": replay.error_style.model_dump(),
            "repeat_reliability": replay.repeat_reliability,
            "state_writers": sorted(replay.state_writers),
            "replay_policies": replay.policies.model_dump(),
            "replay_fit": fit.model_dump(),
        }
        (tmp / "learnt.json").write_bytes(dump_json(learnt))
    routes = published.table.routes
    metrics = {
        "steps": len(published.table),
        "tools": len(set(routes)),
        "fit_score": fit.score,
        "fit_nearest_copy": fit.nearest_copy,
        **clock.timings,
    }
    write_file(out.metrics("index"), dump_json(metrics))
    return metrics


def _load_index(
    settings: WmhConfig, out: StageDir, hidden: frozenset[str] = frozenset()
) -> tuple[IndexRetriever, ReplayPredictor, FitReport]:
    """The index stage's retriever (with `hidden` traces kept out of lookups), its replay
    predictor and what the fit measured."""
    directory = out.index
    if not directory.is_dir():
        raise StoreError(f"{directory} is missing: run the index stage first (dvc repro)")
    retriever = load_retriever(directory, hidden=hidden)
    learnt = read_json(directory / "learnt.json", "index")
    replay = ReplayPredictor(
        retriever,
        ErrorStyle.model_validate(learnt["error_style"]),
        settings.retrieval.top_k,
        learnt["repeat_reliability"],
        learnt["state_writers"],
        ReplayPolicies.model_validate(learnt["replay_policies"]),
    )
    return retriever, replay, FitReport.model_validate(learnt["replay_fit"])


def optimize(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    parts = _load_split(out)
    retriever, replay, _ = _load_index(settings, out, frozenset(trace_ids(parts.test)))
    with clock.stage("optimize"):
        evolved = evolve_prompt(
            settings, base_prompt(), parts.valid, retriever, replay, gepa_run_dir(settings),
            train=parts.train,
        )  # fmt: skip
    if evolved.skipped:
        log.info("%s", evolved.skipped)
    check_gepa_errors(settings, evolved)  # as `wmh build`: nothing of a failed run goes on
    for note in evolved.notes:
        log.warning("%s", note)
    with output_dir(out.prompts) as tmp:
        (tmp / "evolve.json").write_bytes(dump_json(asdict(evolved)))
        (tmp / "best.txt").write_text(evolved.best_prompt, encoding="utf-8")
        (tmp / "timings.json").write_bytes(dump_json(clock.timings))
    best = max((score for _, score in evolved.progress), default=None)
    metrics: dict[str, Any] = {
        "ran": not evolved.skipped,
        "rollouts": evolved.rollouts,
        "frontier_size": evolved.frontier_size,
        **({"best_valid": best} if best is not None else {}),
    }
    write_file(out.metrics("optimize"), dump_json(metrics))
    # A folder DVC draws every file of: with GEPA skipped it stays empty, and `dvc plots show`
    # leaves the plot out instead of drawing an empty slot.
    with output_dir(out.plots_of("gepa")) as plots:
        if not evolved.skipped:
            progress = [{"iteration": i, "best_valid": s} for i, s in evolved.progress]
            (plots / "progress.json").write_bytes(dump_json(progress))
    return metrics


def _load_evolved(out: StageDir) -> EvolveResult:
    data = read_json(out.prompts / "evolve.json", "optimize")
    known = {f.name for f in fields(EvolveResult)}
    return EvolveResult(  # every field it wrote (the provider's failures were left out)
        **{k: v for k, v in data.items() if k in known and k not in ("candidates", "progress")},
        candidates=[FrontierCandidate(**c) for c in data["candidates"]],
        progress=[(int(i), float(s)) for i, s in data["progress"]],
    )


def evaluate(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    parts = _load_split(out, ("valid", "test"))
    retriever, replay, _ = _load_index(settings, out, frozenset(trace_ids(parts.test)))
    evolved = _load_evolved(out)
    with clock.stage("evaluate"):
        answering, heldout, heldout_base = heldout_reports(
            settings, retriever, replay, evolved, parts.test, parts.valid
        )
    check_provider_errors(settings, [answering.report, heldout, heldout_base])
    check_gepa_errors(settings, evolved)  # as the optimize stage wrote it
    with output_dir(out.eval) as tmp:
        summary = answering.summary_dict()
        (tmp / "summary.json").write_bytes(dump_json(summary))
        (tmp / "timings.json").write_bytes(dump_json(clock.timings))
        for name, report in (("heldout", heldout), ("heldout_base", heldout_base)):
            if report is not None:
                (tmp / f"{name}.json").write_text(report.model_dump_json(), encoding="utf-8")
    # DVC's only metrics file: the figures `dvc exp show` compares, fidelity first (per tool,
    # usage and the rest are in eval/heldout.json and the per-tool plot).
    metrics: dict[str, Any] = {}
    per_tool: list[dict[str, Any]] = []
    if heldout is not None:
        overall = heldout.overall
        metrics.update(fidelity=overall.score, ci_low=overall.ci_low, ci_high=overall.ci_high)
        metrics.update(overall.baselines)
        if heldout_base is not None:
            metrics["fidelity_base_prompt"] = heldout_base.overall.score
        if not evolved.skipped:
            metrics["gepa_rollouts"] = evolved.rollouts
            metrics["gepa_best_valid"] = max((v for _, v in evolved.progress), default=None)
        metrics.update(error_flag_accuracy=overall.error_flag_accuracy, steps=overall.steps)
        if "cost" in heldout.usage:
            metrics["cost"] = heldout.usage["cost"]
        per_tool = [
            {"tool": tool, "fidelity": f.score, "steps": f.steps}
            for tool, f in sorted(heldout.per_tool.items())
        ]
    write_file(out.metrics("evaluate"), orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    write_file(out.plot("per_tool"), dump_json(per_tool))
    return metrics


def _load_report(path: Path) -> EvalReport | None:
    if not path.is_file():
        return None
    return EvalReport.model_validate_json(path.read_bytes())


def package(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    """Publish `<root>/models/<name>/` from the stage outputs (and log the build to MLflow)."""
    clock = Clock(None)
    report = IngestReport.model_validate(read_json(out.ingest / "report.json", "ingest"))
    parts = _load_split(out)
    retriever, replay, fit = _load_index(settings, out)
    evolved = _load_evolved(out)
    summary = read_json(out.eval / "summary.json", "evaluate")
    heldout = _load_report(out.eval / "heldout.json")
    heldout_base = _load_report(out.eval / "heldout_base.json")
    timings: dict[str, float] = {}
    places = [out.metrics(stage) for stage in STAGES[:3]] + [out.prompts, out.eval]
    for stage, path in zip(STAGES, places, strict=False):
        found = read_json(path / "timings.json" if path.is_dir() else path, stage)
        timings.update({k: v for k, v in found.items() if k.endswith("_s")})
    answering = Answering(  # an older evaluate stage wrote only the predictor
        summary["predictor"],
        tuple(summary.get("replay_tools", [])),
        {tool: tuple(values) for tool, values in summary.get("valid", {}).items()},
        why=summary.get("why", ""),
    )
    path, card = publish(
        settings, answering, retriever, replay, report, parts,
        (heldout, heldout_base), evolved, timings, clock, fit,
    )  # fmt: skip
    log.info("published %s at %s", settings.name, path)
    return {"path": str(path), "mlflow_run_id": card.mlflow_run_id, **clock.timings}


RUNNERS: dict[str, Callable[[WmhConfig, StageDir], dict[str, Any]]] = {
    "ingest": ingest,
    "split": split,
    "index": index,
    "optimize": optimize,
    "evaluate": evaluate,
    "package": package,
}


def run_stage(stage: str, settings: WmhConfig) -> dict[str, Any]:
    """Run one stage for `settings` (a resolved WmhConfig); returns its metrics."""
    check_settings(settings)
    started = time.perf_counter()
    if stage in PROVIDER_STAGES:
        check_providers_answer(settings)
    try:
        with provider_time_budget(settings.provider.build_time_s):
            metrics = RUNNERS[stage](settings, StageDir(settings.root, settings.name))
    finally:
        gc.unfreeze()  # what the stage froze (`lasting_objects`)
    log.info("stage %s done in %.2fs", stage, time.perf_counter() - started)
    return metrics

"""The build as file-based stages for `dvc.yaml`: ingest -> split -> index -> optimize -> evaluate
-> package.

Each stage reads the resolved config (`params.yaml`) and the files of the stages before it, and
writes its own outputs under `<root>/pipeline/<name>/`, so DVC reruns only the stages whose deps or
params changed. `package` assembles the same model directory `wmh build` writes, publishes it
through the store (staging + rename) and logs the MLflow run. Every file a stage writes goes
through a temporary name first: an interrupted stage never leaves a half-written output.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from wmh.config.schema import WmhConfig
from wmh.core.types import Trace
from wmh.engine.learnt import ErrorStyle
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.errors import EmptyCorpusError, StoreError
from wmh.ingest.reader import IngestReport
from wmh.ingest.sources import ingest as ingest_source
from wmh.ingest.split import PARTS, Split, split_with
from wmh.optimize.evolve import EvolveResult, FrontierCandidate, evolve_prompt
from wmh.pipeline.build import (
    Clock,
    check_settings,
    gepa_run_dir,
    heldout_reports,
    index_traces,
    make_replay,
    publish,
)
from wmh.retrieval.embedders import EmbedderCard, embedder_from_card
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.scoring.runner import EvalReport

log = logging.getLogger(__name__)

STAGES = ("ingest", "split", "index", "optimize", "evaluate", "package")


class StageDir:
    """Where each stage's outputs live: `<root>/pipeline/<name>/` (the paths `dvc.yaml` names)."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.base = Path(root) / "pipeline" / name
        self.ingest = self.base / "ingest"
        self.split = self.base / "split"
        self.index = self.base / "index"
        self.prompts = self.base / "prompts"
        self.eval = self.base / "eval"

    def metrics(self, stage: str) -> Path:
        return self.base / f"{stage}.json"

    def plot(self, name: str) -> Path:
        return self.base / "plots" / f"{name}.json"


# -- writing outputs safely -------------------------------------------------------------------


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


@contextmanager
def _output_dir(path: Path) -> Iterator[Path]:
    """A fresh directory that replaces `path` only when the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)


def _write_traces(path: Path, traces: Iterable[Trace]) -> None:
    with path.open("wb") as out:
        for trace in traces:
            out.write(trace.model_dump_json().encode() + b"\n")


def _read_json(path: Path, stage: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(f"{path} is missing: run the {stage} stage first (dvc repro)") from None
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from None


def _read_traces(path: Path, stage: str) -> list[Trace]:
    if not path.is_file():
        raise StoreError(f"{path} is missing: run the {stage} stage first (dvc repro)")
    traces = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    traces.append(Trace.model_validate_json(line))
                except ValueError as exc:
                    raise StoreError(f"{path}:{number}: not a trace ({exc})") from None
    return traces


# -- the stages -------------------------------------------------------------------------------


def ingest(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    with clock.stage("ingest"):
        result = ingest_source(settings)
    report = result.report
    with _output_dir(out.ingest) as tmp:
        _write_traces(tmp / "traces.jsonl", result.traces)
        (tmp / "report.json").write_bytes(_dump(report.model_dump()))
    metrics = {
        "spans": report.spans,
        "traces": report.traces,
        "steps": report.steps,
        "skipped_spans": report.skipped_spans,
        "unanswered_tool_calls": report.unanswered_tool_calls,
        "unanswered_messages": report.unanswered_messages,
        "empty_traces": len(report.empty_traces),
        **clock.timings,
    }
    _write_file(out.metrics("ingest"), _dump(metrics))
    return metrics


def _load_split(out: StageDir) -> Split:
    parts = {part: _read_traces(out.split / f"{part}.jsonl", "split") for part in PARTS}
    return Split(parts["train"], parts["valid"], parts["test"])


def split(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    traces = _read_traces(out.ingest / "traces.jsonl", "ingest")
    with clock.stage("split"):
        parts = split_with(traces, settings.split)
    if not parts.train:
        raise EmptyCorpusError(
            f"the train split is empty: all {len(traces)} traces went to valid/test; "
            "add traces or raise split.train"
        )
    with _output_dir(out.split) as tmp:
        for part in PARTS:
            _write_traces(tmp / f"{part}.jsonl", parts.part(part))
    metrics: dict[str, Any] = {**parts.sizes(), **clock.timings}
    _write_file(out.metrics("split"), _dump(metrics))
    return metrics


def index(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    train = _read_traces(out.split / "train.jsonl", "split")
    retriever = index_traces(settings, train, clock)
    replay = make_replay(retriever, train, settings.retrieval.top_k)
    with _output_dir(out.index) as tmp:
        retriever.table.save(tmp / "steps.jsonl", tmp / "columns.json")
        retriever.index.save(tmp)
        (tmp / "embedder.json").write_bytes(_dump(retriever.embedder.card.model_dump()))
        learnt = {
            "error_style": replay.error_style.model_dump(),
            "repeat_reliability": replay.repeat_reliability,
            "state_writers": sorted(replay.state_writers),
        }
        (tmp / "learnt.json").write_bytes(_dump(learnt))
    routes = retriever.table.routes
    metrics = {"steps": len(retriever.table), "tools": len(set(routes)), **clock.timings}
    _write_file(out.metrics("index"), _dump(metrics))
    return metrics


def _load_index(settings: WmhConfig, out: StageDir) -> tuple[IndexRetriever, ReplayPredictor]:
    directory = out.index
    if not (directory / "steps.jsonl").is_file():
        raise StoreError(f"{directory} is missing: run the index stage first (dvc repro)")
    table = StepTable.load(directory / "steps.jsonl", directory / "columns.json")
    card = EmbedderCard.model_validate(_read_json(directory / "embedder.json", "index"))
    retriever = IndexRetriever(table, PartitionedIndex.load(directory), embedder_from_card(card))
    learnt = _read_json(directory / "learnt.json", "index")
    replay = ReplayPredictor(
        retriever,
        ErrorStyle.model_validate(learnt["error_style"]),
        settings.retrieval.top_k,
        learnt["repeat_reliability"],
        learnt["state_writers"],
    )
    return retriever, replay


def optimize(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    valid = _read_traces(out.split / "valid.jsonl", "split")
    retriever, replay = _load_index(settings, out)
    with clock.stage("optimize"):
        evolved = evolve_prompt(
            settings, base_prompt(), valid, retriever, replay, gepa_run_dir(settings)
        )
    if evolved.skipped:
        log.info("%s", evolved.skipped)
    with _output_dir(out.prompts) as tmp:
        (tmp / "evolve.json").write_bytes(_dump(asdict(evolved)))
        (tmp / "best.txt").write_text(evolved.best_prompt, encoding="utf-8")
    best = max((score for _, score in evolved.progress), default=None)
    metrics: dict[str, Any] = {
        "ran": not evolved.skipped,
        "rollouts": evolved.rollouts,
        "candidates": len(evolved.candidates),
        "frontier_size": evolved.frontier_size,
        "best_candidate": evolved.best_index,
        **({"best_valid": best} if best is not None else {}),
        **clock.timings,
    }
    _write_file(out.metrics("optimize"), _dump(metrics))
    progress = [{"iteration": i, "best_valid": s} for i, s in evolved.progress]
    _write_file(out.plot("gepa_progress"), _dump(progress))
    return metrics


def _load_evolved(out: StageDir) -> EvolveResult:
    data = _read_json(out.prompts / "evolve.json", "optimize")
    return EvolveResult(
        skipped=data["skipped"],
        best_prompt=data["best_prompt"],
        best_index=data["best_index"],
        rollouts=data["rollouts"],
        candidates=[FrontierCandidate(**c) for c in data["candidates"]],
        progress=[(int(i), float(s)) for i, s in data["progress"]],
    )


def evaluate(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    clock = Clock(None)
    test = _read_traces(out.split / "test.jsonl", "split")
    retriever, replay = _load_index(settings, out)
    evolved = _load_evolved(out)
    with clock.stage("evaluate"):
        predictor, heldout, heldout_base = heldout_reports(
            settings, retriever, replay, evolved, test
        )
    with _output_dir(out.eval) as tmp:
        summary: dict[str, Any] = {"predictor": predictor}
        (tmp / "summary.json").write_bytes(_dump(summary))
        for name, report in (("heldout", heldout), ("heldout_base", heldout_base)):
            if report is not None:
                (tmp / f"{name}.json").write_text(report.model_dump_json(), encoding="utf-8")
    metrics: dict[str, Any] = {**clock.timings}
    per_tool: list[dict[str, Any]] = []
    if heldout is not None:
        overall = heldout.overall
        metrics.update(
            fidelity=overall.score,
            error_flag_accuracy=overall.error_flag_accuracy,
            steps=overall.steps,
            baselines=overall.baselines,
            per_tool={tool: f.score for tool, f in sorted(heldout.per_tool.items())},
            usage=heldout.usage,
        )
        per_tool = [
            {"tool": tool, "fidelity": f.score, "steps": f.steps}
            for tool, f in sorted(heldout.per_tool.items())
        ]
    if heldout_base is not None:
        metrics["fidelity_base_prompt"] = heldout_base.overall.score
    _write_file(out.metrics("evaluate"), _dump(metrics))
    _write_file(out.plot("per_tool"), _dump(per_tool))
    return metrics


def _load_report(path: Path) -> EvalReport | None:
    if not path.is_file():
        return None
    return EvalReport.model_validate_json(path.read_bytes())


def package(settings: WmhConfig, out: StageDir) -> dict[str, Any]:
    """Publish `<root>/models/<name>/` from the stage outputs (and log the build to MLflow)."""
    clock = Clock(None)
    report = IngestReport.model_validate(_read_json(out.ingest / "report.json", "ingest"))
    parts = _load_split(out)
    retriever, replay = _load_index(settings, out)
    evolved = _load_evolved(out)
    summary = _read_json(out.eval / "summary.json", "evaluate")
    heldout = _load_report(out.eval / "heldout.json")
    heldout_base = _load_report(out.eval / "heldout_base.json")
    timings: dict[str, float] = {}
    for stage in STAGES[:-1]:
        metrics = _read_json(out.metrics(stage), stage)
        timings.update({k: v for k, v in metrics.items() if k.endswith("_s")})
    path, card = publish(
        settings, summary["predictor"], retriever, replay, report, parts,
        (heldout, heldout_base), evolved, timings, clock,
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
    metrics = RUNNERS[stage](settings, StageDir(settings.root, settings.name))
    log.info("stage %s done in %.2fs", stage, time.perf_counter() - started)
    return metrics

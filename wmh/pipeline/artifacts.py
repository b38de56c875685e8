"""Write a built model's directory: config, steps, index, prompts, frontier, metrics, card.

The caller writes into a staging directory; the MLflow run of the build is logged from it before
the card (which names the run) is written last.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from wmh.config.card import CARD_FILE, ModelCard
from wmh.config.compose import to_yaml
from wmh.config.schema import WmhConfig
from wmh.engine.prompts import base_prompt
from wmh.eval.runner import EvalReport
from wmh.ingest.split import PARTS, Split
from wmh.optimize.evolve import EvolveResult
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.table import StepTable
from wmh.tracking.builds import track_build

log = logging.getLogger(__name__)


@dataclass
class BuiltModel:
    """Everything a build produced, ready to be written."""

    settings: WmhConfig
    split: Split
    table: StepTable
    index: PartitionedIndex
    card: ModelCard
    heldout: EvalReport | None
    heldout_base: EvalReport | None
    evolved: EvolveResult
    timings: dict[str, float]


def metrics_of(built: BuiltModel) -> dict[str, object]:
    evolved = built.evolved
    gepa: dict[str, object] = {
        "skipped": evolved.skipped,
        "rollouts": evolved.rollouts,
        "frontier_size": evolved.frontier_size,
        "best_candidate": evolved.best_index,
        "progress": evolved.progress,
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
        "split": built.card.split,
        "ingest": built.card.ingest.model_dump(),
        "timings": {k: round(v, 4) for k, v in built.timings.items()},
    }


def _write_steps(target: Path, built: BuiltModel) -> None:
    steps_dir = target / "steps"
    steps_dir.mkdir()
    built.table.save(steps_dir / "train.jsonl", target / "index" / "columns.json")
    split = built.split
    sources = {t.trace_id: t.source for part in PARTS for t in split.part(part)}
    (steps_dir / "sources.json").write_bytes(orjson.dumps(sources))
    for part in PARTS[1:]:
        with (steps_dir / f"{part}.jsonl").open("wb") as out:
            for trace in split.part(part):
                for step in trace.steps:
                    out.write(step.model_dump_json().encode() + b"\n")


def _write_prompts(target: Path, built: BuiltModel) -> None:
    prompts = target / "prompts"
    prompts.mkdir()
    (prompts / "base.txt").write_text(base_prompt(), encoding="utf-8")
    evolved = built.evolved
    if evolved.skipped:
        return
    (prompts / "optimized.txt").write_text(evolved.best_prompt, encoding="utf-8")
    frontier = {
        "best": evolved.best_index,
        "rollouts": evolved.rollouts,
        "candidates": [asdict(c) for c in evolved.candidates],
    }
    (prompts / "frontier.json").write_bytes(orjson.dumps(frontier, option=orjson.OPT_INDENT_2))


def write_model_dir(target: Path, built: BuiltModel) -> None:
    (target / "config.yaml").write_text(to_yaml(built.settings), encoding="utf-8")
    _write_steps(target, built)
    built.index.save(target / "index")
    (target / "index" / "embedder.json").write_text(built.card.embedder.model_dump_json(indent=2))
    _write_prompts(target, built)
    metrics = metrics_of(built)
    (target / "metrics.json").write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    if built.settings.track:
        built.card.mlflow_run_id = track_build(target, built.settings, built.card, metrics)
    (target / CARD_FILE).write_text(built.card.model_dump_json(indent=2), encoding="utf-8")

"""A model directory's recorded steps, by split part: written by a build, read back as traces by
evaluation (the test part) and by agents that replay or take tasks from unseen traces."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson

from wmh.core.stored import step_json, step_lines, trace_sources
from wmh.core.types import Step, Trace
from wmh.errors import StoreError
from wmh.ingest.split import PARTS, Split
from wmh.store.layout import ModelFiles


def write_steps(files: ModelFiles, split: Split) -> None:
    """Each split part as Step lines (a part held as lines is written as it is held), and the
    file each trace came from."""
    files.steps_dir.mkdir()
    sources = {k: v for part in PARTS for k, v in trace_sources(split.part(part)).items()}
    files.sources.write_bytes(orjson.dumps(sources))
    for part in PARTS:
        traces = split.part(part)
        held = step_lines(traces)
        lines = held if held is not None else (step_json(s) for t in traces for s in t.steps)
        with files.steps(part).open("wb") as out:
            for line in lines:
                out.write(line + b"\n")


def read_part(model_dir: Path, part: str = "test") -> list[Trace]:
    """One split part of the model (the test part by default), as traces (with the file each
    came from)."""
    files = ModelFiles(model_dir)
    sources = orjson.loads(files.sources.read_bytes()) if files.sources.is_file() else {}
    by_trace: dict[str, list[Step]] = defaultdict(list)
    for line in files.steps(part).read_bytes().splitlines():
        if line:
            step = Step.model_validate_json(line)
            by_trace[step.trace_id].append(step)
    return [
        Trace(trace_id=t, steps=sorted(s, key=lambda x: x.index), source=sources.get(t, ""))
        for t, s in sorted(by_trace.items())
    ]


def part_trace_ids(model_dir: Path, part: str) -> set[str]:
    """The ids of the traces in one split part of the model (no steps parsed beyond the id)."""
    path = ModelFiles(model_dir).steps(part)
    if not path.is_file():
        return set()
    return {orjson.loads(line)["trace_id"] for line in path.read_bytes().splitlines() if line}


def agent_traces(model_dir: str | Path) -> list[Trace]:
    """The traces agents replay and take tasks from: the test part, else valid, else train (so
    traces the index never saw come first)."""
    return agent_traces_of(model_dir)[1]


def agent_traces_of(model_dir: str | Path) -> tuple[str, list[Trace]]:
    """`agent_traces`, with the part they come from (`test`, `valid` or `train`)."""
    files = ModelFiles(model_dir)
    for part in ("test", "valid", "train"):
        if files.steps(part).is_file() and (traces := read_part(files.root, part)):
            return part, traces
    raise StoreError(f"{files.root}: no recorded steps to sample actions from")

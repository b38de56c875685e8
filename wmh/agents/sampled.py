"""An agent that proposes the actions of a recorded (held-out) trace, in order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from wmh.core.types import Action, Step, Trace, Turn
from wmh.errors import StoreError


class SampledAgent:
    """Replays one trace's actions; `expected(i)` is what the real environment answered."""

    name = "sampled"

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    @property
    def task(self) -> str:
        return self.trace.steps[0].task if self.trace.steps else ""

    def act(self, task: str, history: Sequence[Turn]) -> Action | None:
        i = len(history)
        return self.trace.steps[i].action if i < len(self.trace.steps) else None

    def expected(self, i: int) -> Step:
        return self.trace.steps[i]


def heldout_traces_of(model_dir: Path) -> list[Trace]:
    """The model's test traces (else valid, else train): traces its index never saw first."""
    for part in ("test", "valid", "train"):
        path = model_dir / "steps" / f"{part}.jsonl"
        if not path.is_file() or path.stat().st_size == 0:
            continue
        by_trace: dict[str, list[Step]] = {}
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    step = Step.model_validate_json(line)
                    by_trace.setdefault(step.trace_id, []).append(step)
        if by_trace:
            return [
                Trace(trace_id=tid, steps=sorted(steps, key=lambda s: s.index))
                for tid, steps in by_trace.items()
            ]
    raise StoreError(f"{model_dir}: no recorded steps to sample actions from")


def pick_trace(traces: list[Trace], seed: int, min_steps: int = 3) -> Trace:
    """A seeded choice, preferring traces with a few steps."""
    longer = [t for t in traces if len(t.steps) >= min_steps] or traces
    return random.Random(seed).choice(sorted(longer, key=lambda t: t.trace_id))

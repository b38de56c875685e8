"""GEPA's valid examples: a seeded draw of steps with their recorded history. The draw reads
the traces' sizes, so traces held as lines are parsed only when one of their steps is drawn,
and it draws what shuffling every step would draw."""

from __future__ import annotations

import random

import pytest

from wmh.core.stored import StoredTraces, TraceRows
from wmh.core.types import Action, Observation, Step, Trace, Turn
from wmh.optimize.evolve import valid_examples
from wmh.optimize.gepa_adapter import Example


def _traces() -> list[Trace]:
    rng = random.Random(3)
    traces = []
    for t in range(30):
        steps = [
            Step(
                action=Action(name="run", arguments={"t": t, "i": i}),
                observation=Observation(content=f"{t}/{i}"),
                trace_id=f"t{t:02d}",
                index=i,
                task=f"task {t}",
            )
            for i in range(rng.randrange(0, 7))
        ]
        traces.append(Trace(trace_id=f"t{t:02d}", steps=steps))
    return traces


def _every_step_shuffled(traces: list[Trace], size: int, seed: int) -> list[Example]:
    """The draw as it was made before: an example of every step, shuffled, the first kept."""
    examples = [
        Example(
            trace.trace_id,
            step.index,
            trace.task,
            tuple(Turn(action=s.action, observation=s.observation) for s in trace.steps[:i]),
            step.action,
            step.observation,
        )
        for trace in traces
        for i, step in enumerate(trace.steps)
    ]
    random.Random(seed).shuffle(examples)
    return examples[:size]


@pytest.mark.parametrize(("size", "seed"), [(5, 0), (12, 7), (500, 1)])
def test_the_draw_is_every_step_shuffled_and_parses_only_the_drawn_traces(
    monkeypatch: pytest.MonkeyPatch, size: int, seed: int
) -> None:
    traces = _traces()
    expected = _every_step_shuffled(traces, size, seed)
    assert valid_examples(traces, size, seed) == expected
    store = TraceRows()
    for trace in traces:
        store.add(trace)
    parsed: list[int] = []
    read = TraceRows.trace

    def counted(self: TraceRows, number: int) -> Trace:
        parsed.append(number)
        return read(self, number)

    monkeypatch.setattr(TraceRows, "trace", counted)
    stored = StoredTraces(store, range(len(traces)))
    assert valid_examples(stored, size, seed) == expected
    drawn = {e.trace_id for e in expected}
    assert sorted(parsed) == sorted(int(t[1:]) for t in drawn)  # each drawn trace once

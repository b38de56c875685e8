"""The history window every indexed step is embedded with: the build lists each trace's actions
once, and must give what `recent_actions` gives a query (or a loaded model would retrieve with
other texts than its index was built with)."""

from __future__ import annotations

from wmh.core.types import Action, Observation, Step, Trace
from wmh.pipeline.build import recent_of
from wmh.retrieval.retriever import recent_actions


def _trace(name: str, length: int) -> Trace:
    steps = [
        Step(
            action=Action(name="run", arguments={"n": f"{name}{i}"}),
            observation=Observation(content=str(i)),
            trace_id=name,
            index=i,
        )
        for i in range(length)
    ]
    return Trace(trace_id=name, steps=steps)


def test_each_step_gets_the_actions_just_before_it_in_its_own_trace() -> None:
    traces = [_trace("a", 6), _trace("b", 1), _trace("c", 3)]
    # In another order than the traces', as the table's rows are.
    steps = sorted((s for t in traces for s in t.steps), key=lambda s: (-s.index, s.trace_id))
    by_id = {t.trace_id: t for t in traces}
    expected = [recent_actions(by_id[s.trace_id].steps, s.index) for s in steps]
    assert recent_of(steps, traces) == expected
    keys = [[a.arguments["n"] for a in window] for window in recent_of(steps, traces)]
    assert keys[0] == ["a2", "a3", "a4"]  # a5: the three before it, oldest first
    assert keys[-1] == []  # a first step has no history

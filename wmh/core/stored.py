"""Traces held as their steps' JSON lines, each parsed when it is read.

A build of a million steps cannot hold every step as pydantic objects (about 3.5 KB a step,
against 0.5 KB of JSON): it keeps the lines, and the traces a stage reads whole (those the
replay parts are chosen on, the held-out ones, those GEPA draws its examples from) are parsed as
they are read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from pydantic import TypeAdapter

from wmh.core.types import Step, Trace

_STEP_JSON = TypeAdapter(Step)


def step_json(step: Step) -> bytes:
    """A step as its JSON line (the bytes of `model_dump_json`, without the str between)."""
    return _STEP_JSON.dump_json(step)


class TraceRows:
    """Every trace's steps as JSON lines, in trace order: trace `n`'s steps are
    `rows[starts[n]:starts[n + 1]]`."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []
        self.starts: list[int] = [0]
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.metadata: list[dict[str, Any]] = []

    def add(self, trace: Trace) -> None:
        """A trace: the JSON line of each of its steps, its id, file and metadata."""
        self.rows.extend(step_json(step) for step in trace.steps)
        self.starts.append(len(self.rows))
        self.ids.append(trace.trace_id)
        self.sources.append(trace.source)
        self.metadata.append(trace.metadata)

    def __len__(self) -> int:
        return len(self.ids)

    def trace(self, number: int) -> Trace:
        lines = self.rows[self.starts[number] : self.starts[number + 1]]
        return Trace(
            trace_id=self.ids[number],
            steps=[Step.model_validate_json(line) for line in lines],
            source=self.sources[number],
            metadata=dict(self.metadata[number]),
        )

    def length(self, number: int) -> int:
        return self.starts[number + 1] - self.starts[number]


class StoredTraces(Sequence[Trace]):
    """Some traces of a `TraceRows`, as a sequence of `Trace`s: each is parsed anew when it is
    read (and held only as long as the reader holds it). Their ids, sizes and lines are read
    without parsing (`trace_ids`, `step_counts`, `step_lines`)."""

    def __init__(self, store: TraceRows, numbers: Sequence[int]) -> None:
        self.store = store
        self.numbers = list(numbers)

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, index: int) -> Trace: ...
    @overload
    def __getitem__(self, index: slice) -> StoredTraces: ...
    def __getitem__(self, index: int | slice) -> Trace | StoredTraces:
        if isinstance(index, slice):
            return StoredTraces(self.store, self.numbers[index])
        return self.store.trace(self.numbers[index])

    def __iter__(self) -> Iterator[Trace]:
        for number in self.numbers:
            yield self.store.trace(number)


def trace_ids(traces: Sequence[Trace]) -> list[str]:
    if isinstance(traces, StoredTraces):
        return [traces.store.ids[n] for n in traces.numbers]
    return [t.trace_id for t in traces]


def step_counts(traces: Sequence[Trace]) -> list[int]:
    if isinstance(traces, StoredTraces):
        return [traces.store.length(n) for n in traces.numbers]
    return [len(t.steps) for t in traces]


def trace_sources(traces: Sequence[Trace]) -> dict[str, str]:
    if isinstance(traces, StoredTraces):
        store = traces.store
        return {store.ids[n]: store.sources[n] for n in traces.numbers}
    return {t.trace_id: t.source for t in traces}


def step_lines(traces: Sequence[Trace]) -> Iterator[bytes] | None:
    """The JSON lines of the traces' steps, in order, when they are held as lines (else None)."""
    if not isinstance(traces, StoredTraces):
        return None
    store = traces.store
    return (
        line for n in traces.numbers for line in store.rows[store.starts[n] : store.starts[n + 1]]
    )

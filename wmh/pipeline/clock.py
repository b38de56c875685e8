"""Stage timing and progress for a build: which stage runs, how far it is, how long it took.

Callers choose what to show: `wmh build` on a terminal draws a counted bar per stage (steps
embedded, held-out steps scored, GEPA iterations with the best valid score); off a terminal, and in
`python -m wmh.build`, one line per finished stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageCallback = Callable[[str], None]
# (stage, done, total or None, a few words on what is counted)
ProgressCallback = Callable[[str, int, int | None, str], None]
# (stage, seconds it took)
DoneCallback = Callable[[str, float], None]


class Clock:
    """Times each stage, and tells the caller which one runs and how far it got."""

    def __init__(
        self,
        on_stage: StageCallback | None = None,
        on_progress: ProgressCallback | None = None,
        on_done: DoneCallback | None = None,
    ) -> None:
        self.timings: dict[str, float] = {}
        self._on_stage = on_stage
        self._on_progress = on_progress
        self._on_done = on_done
        self._stage = ""
        self._done = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._on_stage is not None:
            self._on_stage(name)
        self._stage, self._done = name, 0
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.timings[f"{name}_s"] = seconds
        if self._on_done is not None:
            self._on_done(name, seconds)

    def advance(self, count: int, total: int | None = None, detail: str = "") -> None:
        """`count` more units of the running stage are done (of `total`)."""
        self._done += count
        self.report(self._done, total, detail)

    def report(self, done: int, total: int | None = None, detail: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress(self._stage, done, total, detail)

"""Stage timing for a build: which stage runs (for progress callbacks) and how long each took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageCallback = Callable[[str], None]


class Clock:
    """Times each stage and tells the caller which one is running."""

    def __init__(self, on_stage: StageCallback | None) -> None:
        self.timings: dict[str, float] = {}
        self._on_stage = on_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._on_stage is not None:
            self._on_stage(name)
        started = time.perf_counter()
        yield
        self.timings[f"{name}_s"] = time.perf_counter() - started

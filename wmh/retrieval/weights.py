"""Retrieval weightings, in a module of their own: a model card names each tool's, and reads
without loading the index."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Weights:
    """How much a like task and a like history add to a call's likeness."""

    task: float = 0.0
    history: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.task or self.history)

"""How much a like task and a like history add to a call's likeness (in a module of its own, so
that a model card, which names each tool's weighting, reads without loading the index)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Weights:
    """How much a like task and a like history add to a call's likeness."""

    task: float = 0.0
    history: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.task or self.history)

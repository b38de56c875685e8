"""How a held-out trace is stepped: with its recorded history or with the model's own answers.

Its own module, without the scoring runner's imports: `wmh eval`'s options name it, and its
help should not wait for the runner (numpy, pydantic models, the engine) to load."""

from __future__ import annotations

from enum import StrEnum


class LoopMode(StrEnum):
    OPEN = "open_loop"
    CLOSED = "closed_loop"

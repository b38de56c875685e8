"""What an agent is: given the task and the turns so far, the next action (None: done)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from wmh.core.types import Action, Turn


class Agent(Protocol):
    name: str

    def act(self, task: str, history: Sequence[Turn]) -> Action | None: ...

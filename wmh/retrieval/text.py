"""The text an action is embedded as: the action itself, plus a short window of task and history.

Build and query call the same functions, so a loaded model retrieves with exactly the text shape
its index was built with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wmh.core.canonical import canonical_json
from wmh.core.types import Action, ActionKind

MESSAGE_ROUTE = "__message__"
TASK_CHARS = 240
HISTORY_WINDOW = 2


def route_of(action: Action) -> str:
    """The partition an action is searched in: its tool name, or one partition for messages."""
    return action.name if action.kind is ActionKind.TOOL_CALL else MESSAGE_ROUTE


@dataclass(frozen=True, slots=True)
class QueryText:
    """The two halves of a retrieval text; embedders may weigh them differently."""

    action: str
    context: str

    def joined(self) -> str:
        return f"{self.action} || {self.context}" if self.context else self.action


def action_text(action: Action) -> str:
    if action.kind is ActionKind.TOOL_CALL:
        return f"{action.name} {canonical_json(action.arguments)}"
    return f"say {action.content}"


def query_text(action: Action, task: str, recent: Sequence[Action]) -> QueryText:
    """Text for one action given the task and the actions just before it (oldest first)."""
    window = [a.name if a.kind is ActionKind.TOOL_CALL else "say" for a in recent[-HISTORY_WINDOW:]]
    context = f"task: {task[:TASK_CHARS]}"
    if window:
        context += " after: " + " ".join(window)
    return QueryText(action_text(action), context)

"""The texts a step is retrieved by: the action itself, the task, and the actions just before it.

Build and query call the same functions, so a loaded model retrieves with exactly the text shape
its index was built with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wmh.core.types import Action, ActionKind

MESSAGE_ROUTE = "__message__"
TASK_CHARS = 2000  # of the task, for the context texts (a task's opening says what it is)
HISTORY_WINDOW = 3  # actions before the current one that make up its history


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
        return call_text(action.name, action.key())  # the key is computed once per action
    return f"say {action.content}"


def call_text(name: str, key: str) -> str:
    """A tool call's text from its exact-replay key: `tool:NAME:CANONICAL_JSON` is
    `NAME CANONICAL_JSON`."""
    return f"{name} {key[len(name) + 6 :]}"


def query_text(action: Action, task: str, recent: Sequence[Action]) -> QueryText:
    """Text for one action given the task and the actions just before it (oldest first)."""
    return QueryText(
        action_text(action), query_context(task, [window_name(a) for a in recent[-2:]])
    )


def window_name(action: Action) -> str:
    """How an action before the current one is named in its context: its tool, or `say`."""
    return action.name if action.kind is ActionKind.TOOL_CALL else "say"


def query_context(task: str, names: Sequence[str]) -> str:
    """The context half of a retrieval text: the task, and the last two actions before (their
    `window_name`s, oldest first)."""
    context = f"task: {task[:240]}"
    if names[-2:]:
        context += " after: " + " ".join(names[-2:])
    return context

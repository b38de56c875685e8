"""The JSON action grammar agents write: `{"tool": NAME, "arguments": {...}}` calls a tool,
`{"message": TEXT}` says something, `{"done": true}` ends the episode.

One parser reads it with two leniencies: strict for an environment's input (the gymnasium
adapter answers a malformed action with an error, as a real environment answers a bad call) and
lenient for an LLM agent's answer (JSON anywhere in chatty text; anything else is a message, so
the agent still makes progress).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from wmh.core.json_text import extract_json_object
from wmh.core.types import Action, ActionKind, validation_reasons

EXPECTED = '{"tool": ..., "arguments": {...}}, {"message": ...} or {"done": true}'


class ActionSyntaxError(ValueError):
    """Strict parsing: the text is not an action of the grammar (the message says why)."""


def parse_action_json(text: str, *, lenient: bool = False) -> Action | None:
    """The action in `text`, or None for `{"done": true}`.

    Strict: `text` is exactly one JSON object; `"name"` is accepted for `"tool"`; a wrong shape
    raises ActionSyntaxError. Lenient: the first JSON object anywhere in `text`; without one the
    whole text is a message, and an object that names no tool is its `message` (or "ok")."""
    if lenient:
        found = extract_json_object(text)
        if found is None:
            return Action(kind=ActionKind.MESSAGE, content=text.strip())
        return _lenient(found)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ActionSyntaxError(f"the action is not JSON ({exc})") from None
    except RecursionError:
        raise ActionSyntaxError("the action is nested too deep to parse") from None
    if not isinstance(data, dict):
        raise ActionSyntaxError("the action must be a JSON object")
    try:
        return _strict(data)
    except ValidationError as exc:  # e.g. a lone surrogate, which no answer could be written with
        raise ActionSyntaxError(validation_reasons(exc)) from None


def _lenient(data: dict[str, Any]) -> Action | None:
    if data.get("done"):
        return None
    tool = data.get("tool")
    if isinstance(tool, str) and tool:
        arguments = data.get("arguments")
        return Action(
            kind=ActionKind.TOOL_CALL,
            name=tool,
            arguments=arguments if isinstance(arguments, dict) else {},
        )
    return Action(kind=ActionKind.MESSAGE, content=str(data.get("message", "")).strip() or "ok")


def _strict(data: dict[str, Any]) -> Action | None:
    if data.get("done") is True:
        return None
    tool = data.get("tool", data.get("name"))
    if isinstance(tool, str) and tool.strip():
        arguments = data.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ActionSyntaxError("'arguments' must be a JSON object")
        return Action(kind=ActionKind.TOOL_CALL, name=tool, arguments=arguments)
    if isinstance(data.get("message"), str):
        return Action(kind=ActionKind.MESSAGE, content=data["message"])
    raise ActionSyntaxError(f"expected {EXPECTED}")

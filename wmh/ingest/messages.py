"""Normalise chat messages from the shapes traces carry them in into one small form.

Accepted: OTel GenAI `parts` messages, OpenAI chat messages (`content`, `tool_calls`,
`tool_call_id`) and Anthropic content blocks (`tool_use`, `tool_result`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from wmh.core.canonical import canonical_json


@dataclass(slots=True)
class ToolCallPart:
    call_id: str
    name: str
    arguments: dict[str, Any] | None  # None: the span did not record them


@dataclass(slots=True)
class ToolResponsePart:
    call_id: str
    content: str
    is_error: bool = False


@dataclass(slots=True)
class Message:
    role: str
    text: str = ""
    tool_calls: list[ToolCallPart] = field(default_factory=list)
    tool_responses: list[ToolResponsePart] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Identity used to recognise the same message repeated in later chat inputs."""
        calls = [(c.call_id, c.name, canonical_json(c.arguments)) for c in self.tool_calls]
        responses = [(r.call_id, r.content) for r in self.tool_responses]
        return canonical_json([self.role, self.text, calls, responses])


_ROLE_ALIASES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool"}


class WrappedArguments(dict):  # type: ignore[type-arg]
    """Arguments that were not a JSON object, kept as {"input": x} so the call is not lost;
    the type lets ingest count them (`IngestReport.wrapped_arguments`) instead of hiding them.
    `broken` is set when the text looked like JSON (began with '{' or '[') but did not parse:
    arguments cut short by an exporter's attribute limit, most often."""

    broken: bool = False


def _wrapped(value: Any, *, broken: bool = False) -> WrappedArguments:
    wrapped = WrappedArguments(input=value)
    wrapped.broken = broken
    return wrapped


def as_arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments as a dict: JSON text is parsed; a non-object becomes {"input": x}
    (a `WrappedArguments`, which ingest counts)."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _wrapped(raw, broken=raw.lstrip()[:1] in ("{", "["))
        return parsed if isinstance(parsed, dict) else _wrapped(parsed)
    return _wrapped(raw)


def as_text(raw: Any) -> str:
    """Content as text: strings as they are, text blocks joined, anything else as canonical JSON."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(b, dict) and "text" in b for b in raw):
        return "\n".join(str(b["text"]) for b in raw)
    return canonical_json(raw)


def _from_parts(role: str, parts: list[Any]) -> Message:
    msg = Message(role=role)
    texts: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise ValueError(f"message part must be an object, got {type(part).__name__}")
        kind = part.get("type", "text")
        if kind == "text":
            texts.append(as_text(part.get("content", part.get("text", ""))))
        elif kind == "tool_call":
            msg.tool_calls.append(
                ToolCallPart(
                    str(part.get("id") or ""),
                    str(part.get("name") or ""),
                    as_arguments(part.get("arguments")),
                )
            )
        elif kind == "tool_call_response":
            msg.tool_responses.append(
                ToolResponsePart(str(part.get("id") or ""), as_text(part.get("response")))
            )
    msg.text = "\n".join(t for t in texts if t)
    return msg


def _from_blocks(msg: Message, blocks: list[Any]) -> None:
    texts: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "tool_use":
                msg.tool_calls.append(
                    ToolCallPart(
                        str(block.get("id") or ""),
                        str(block.get("name") or ""),
                        as_arguments(block.get("input")),
                    )
                )
            elif kind == "tool_result":
                msg.tool_responses.append(
                    ToolResponsePart(
                        str(block.get("tool_use_id") or ""),
                        as_text(block.get("content")),
                        bool(block.get("is_error")),
                    )
                )
            elif "text" in block:
                texts.append(str(block["text"]))
    msg.text = "\n".join(t for t in texts if t)


def normalise_message(raw: Any) -> Message:
    """One message in any accepted shape -> Message. Raises ValueError when it is not a message."""
    if isinstance(raw, str):
        return Message(role="user", text=raw)
    if not isinstance(raw, dict):
        raise ValueError(f"a message must be an object, got {type(raw).__name__}")
    role = str(raw.get("role") or "user").lower()
    role = _ROLE_ALIASES.get(role, role)
    if isinstance(raw.get("parts"), list):
        return _from_parts(role, raw["parts"])
    msg = Message(role=role)
    content = raw.get("content")
    if isinstance(content, list):
        _from_blocks(msg, content)
    else:
        msg.text = as_text(content)
    for call in raw.get("tool_calls") or []:
        if isinstance(call, dict):
            function = call.get("function")
            fn: dict[str, Any] = function if isinstance(function, dict) else call
            msg.tool_calls.append(
                ToolCallPart(
                    str(call.get("id") or ""),
                    str(fn.get("name") or ""),
                    as_arguments(fn.get("arguments")),
                )
            )
    if role == "tool" and not msg.tool_responses:
        call_id = str(raw.get("tool_call_id") or raw.get("id") or "")
        msg.tool_responses.append(ToolResponsePart(call_id, msg.text))
        msg.text = ""
    return msg


def parse_messages(raw: Any, default_role: str) -> list[Message]:
    """A messages attribute (JSON text or decoded list) -> Messages; plain text is one message."""
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped[:1] in ("[", "{"):
            try:
                raw = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
        else:
            return [Message(role=default_role, text=raw)] if raw else []
    if isinstance(raw, dict):
        if isinstance(raw.get("messages"), list):
            raw = raw["messages"]
        elif isinstance(raw.get("choices"), list):
            raw = [c.get("message", c) for c in raw["choices"] if isinstance(c, dict)]
        else:
            raw = [raw]
    if not isinstance(raw, list):
        raise ValueError(f"expected a list of messages, got {type(raw).__name__}")
    messages = []
    for i, item in enumerate(raw):
        try:
            message = normalise_message(item)
        except ValueError as exc:
            raise ValueError(f"message {i}: {exc}") from None
        if isinstance(item, dict) and "role" not in item and "parts" not in item:
            message.role = default_role if message.role == "user" else message.role
        messages.append(message)
    return messages

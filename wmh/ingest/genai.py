"""Map one span to what it says about the agent run, by the OpenTelemetry GenAI conventions.

An `execute_tool` span says a tool was called (and what it answered); a chat span says what the
model saw (input messages, with earlier tool results) and what it asked for (output messages, with
tool calls). The older flat attributes (`gen_ai.prompt`, `gen_ai.completion`,
`gen_ai.tool.message`) are read the same way, and OpenInference / OpenLLMetry spans through
`wmh.ingest.conventions`. A span that says nothing of these is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wmh.ingest.conventions import OI_KIND, TL_KIND, chat_messages, convention_of, tool_of
from wmh.ingest.messages import (
    Message,
    ToolCallPart,
    ToolResponsePart,
    as_arguments,
    as_text,
    parse_messages,
)
from wmh.ingest.otlp import SpanRecord

OPERATION = "gen_ai.operation.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
TOOL_MESSAGE = "gen_ai.tool.message"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
LEGACY_PROMPT = "gen_ai.prompt"
LEGACY_COMPLETION = "gen_ai.completion"
# Other instrumentations and harnesses name a tool span's arguments and result differently; on
# a tool span, the first of these present is read (the semantic conventions' own first).
ARGUMENT_KEYS = (TOOL_ARGUMENTS, "gen_ai.tool.arguments", "gen_ai.tool.input", "input")
RESULT_KEYS = (TOOL_RESULT, "gen_ai.tool.output", "gen_ai.tool.result", "output")
_NAMED_RESULT_KEYS = RESULT_KEYS[:-1]  # a bare `output` alone does not make a span a tool span

_CHAT_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}
_AGENT_OPERATIONS = {"invoke_agent", "create_agent", "invoke_workflow"}


class SpanKind(StrEnum):
    TOOL = "tool"
    CHAT = "chat"
    AGENT = "agent"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class SpanFacts:
    """What one span contributes to its trace."""

    kind: SpanKind
    input_messages: list[Message] = field(default_factory=list)
    output_messages: list[Message] = field(default_factory=list)
    tool_call: ToolCallPart | None = None
    tool_result: ToolResponsePart | None = None

    @property
    def contributes(self) -> bool:
        return bool(
            self.input_messages or self.output_messages or self.tool_call or self.tool_result
        )


def _operation(span: SpanRecord) -> str:
    op = span.attributes.get(OPERATION)
    if op is not None and not isinstance(op, str):
        raise span.fail(f"attribute '{OPERATION}': expected a string, got {type(op).__name__}")
    if op:
        return op
    return span.name.split(" ", 1)[0] if span.name else ""


def _string_attr(span: SpanRecord, key: str) -> str | None:
    value = span.attributes.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise span.fail(f"attribute '{key}': expected a string, got {type(value).__name__}")
    return value


def _call_id(span: SpanRecord) -> str:
    value = span.attributes.get(TOOL_CALL_ID)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise span.fail(
            f"attribute '{TOOL_CALL_ID}': expected a string, got {type(value).__name__}"
        )
    return str(value)


def _messages(span: SpanRecord, keys: tuple[str, str], role: str) -> list[Message]:
    for key in keys:
        raw = span.attributes.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str | list | dict):
            raise span.fail(f"attribute '{key}': expected JSON messages, got {type(raw).__name__}")
        try:
            return parse_messages(raw, role)
        except ValueError as exc:
            raise span.fail(f"attribute '{key}': {exc}") from None
    return []


def _tool_message(span: SpanRecord) -> ToolResponsePart | None:
    raw = span.attributes.get(TOOL_MESSAGE)
    if raw is None:
        for event in span.events:
            if event.get("name") == TOOL_MESSAGE:
                raw = _event_content(event)
                break
    if raw is None:
        return None
    call_id = _call_id(span)
    if isinstance(raw, str) and raw.strip().startswith("{"):
        parsed = as_arguments(raw)
        if "content" in parsed:
            call_id = str(parsed.get("id") or parsed.get("tool_call_id") or call_id)
            raw = parsed["content"]
    return ToolResponsePart(call_id, as_text(raw), span.is_error)


def _event_content(event: dict[str, Any]) -> Any:
    for item in event.get("attributes") or []:
        if isinstance(item, dict) and item.get("key") == "content":
            value = item.get("value") or {}
            return value.get("stringValue") if isinstance(value, dict) else None
    return None


def _tool_name_from_span_name(span: SpanRecord) -> str:
    parts = span.name.split(" ", 1)
    return parts[1].strip() if len(parts) == 2 else ""


def _tool_facts(span: SpanRecord) -> SpanFacts:
    name = _string_attr(span, TOOL_NAME) or _tool_name_from_span_name(span)
    call_id = _call_id(span)
    facts = SpanFacts(SpanKind.TOOL)
    attrs = span.attributes
    raw_args = next((attrs[k] for k in ARGUMENT_KEYS if k in attrs), None)
    if name:
        arguments = None if raw_args is None else as_arguments(raw_args)
        facts.tool_call = ToolCallPart(call_id, name, arguments)
    is_error = span.is_error or "error.type" in attrs
    result_key = next((k for k in RESULT_KEYS if k in attrs), None)
    if result_key is not None:
        content = as_text(attrs[result_key])
        facts.tool_result = ToolResponsePart(call_id, content, is_error)
    else:
        legacy = _tool_message(span)
        if legacy is not None:
            legacy.is_error = legacy.is_error or is_error
            facts.tool_result = legacy
        elif is_error and span.status_message:
            facts.tool_result = ToolResponsePart(call_id, span.status_message, True)
    return facts


def _chat_facts(span: SpanRecord, kind: SpanKind) -> SpanFacts:
    facts = SpanFacts(kind)
    facts.input_messages = _messages(span, (INPUT_MESSAGES, LEGACY_PROMPT), "user")
    facts.output_messages = _messages(span, (OUTPUT_MESSAGES, LEGACY_COMPLETION), "assistant")
    name = _string_attr(span, TOOL_NAME)
    if name:
        args = as_arguments(span.attributes.get(TOOL_ARGUMENTS))
        facts.tool_call = ToolCallPart(_call_id(span), name, args)
    facts.tool_result = _tool_message(span)
    return facts


def _convention_facts(span: SpanRecord, convention: str) -> SpanFacts:
    tool = tool_of(span, convention)
    if tool is not None:
        return SpanFacts(SpanKind.TOOL, tool_call=tool[0], tool_result=tool[1])
    inputs, outputs = chat_messages(span, convention)
    if inputs or outputs:
        return SpanFacts(SpanKind.CHAT, input_messages=inputs, output_messages=outputs)
    kind = str(span.attributes.get(OI_KIND) or span.attributes.get(TL_KIND) or "").lower()
    return SpanFacts(SpanKind.AGENT if kind in ("agent", "chain", "workflow") else SpanKind.UNKNOWN)


def span_facts(span: SpanRecord) -> SpanFacts:
    """Classify a span and extract its messages, tool call and tool result (OpenInference and
    OpenLLMetry spans are recognised by their own attributes first)."""
    convention = convention_of(span)
    if convention:
        return _convention_facts(span, convention)
    op = _operation(span)
    attrs = span.attributes
    if op == "execute_tool" or (
        TOOL_NAME in attrs
        and (TOOL_MESSAGE in attrs or any(k in attrs for k in _NAMED_RESULT_KEYS))
        and not (INPUT_MESSAGES in attrs or LEGACY_PROMPT in attrs)
    ):
        return _tool_facts(span)
    if op in _CHAT_OPERATIONS or any(
        k in attrs for k in (INPUT_MESSAGES, OUTPUT_MESSAGES, LEGACY_PROMPT, LEGACY_COMPLETION)
    ):
        return _chat_facts(span, SpanKind.CHAT)
    if op in _AGENT_OPERATIONS:
        return _chat_facts(span, SpanKind.AGENT)
    if TOOL_MESSAGE in attrs:
        return SpanFacts(SpanKind.TOOL, tool_result=_tool_message(span))
    return SpanFacts(SpanKind.UNKNOWN)

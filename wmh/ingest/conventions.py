"""Other instrumentation conventions, detected per span and read into the same facts as GenAI spans.

- OpenInference (Arize Phoenix's instrumentors): `openinference.span.kind` (TOOL, LLM, AGENT, ...),
  a tool span's `tool.name`, `input.value` (the arguments) and `output.value` (the result); an LLM
  span's flattened `llm.input_messages.N.message.{role,content,tool_call_id}` and
  `llm.output_messages.N.message.tool_calls.M.tool_call.{id,function.name,function.arguments}`.
- OpenLLMetry (Traceloop): `traceloop.span.kind` (workflow, task, agent, tool), a tool span's
  `traceloop.entity.name`, `traceloop.entity.input` (JSON, arguments under `kwargs` or `inputs`)
  and `traceloop.entity.output`; an LLM span's flattened `gen_ai.prompt.N.{role,content,
  tool_call_id}` and `gen_ai.completion.N.tool_calls.M.{id,name,arguments}`.
"""

from __future__ import annotations

from typing import Any

import orjson

from wmh.ingest.messages import (
    Message,
    ToolCallPart,
    ToolResponsePart,
    as_arguments,
    as_text,
    normalise_message,
)
from wmh.ingest.otlp import SpanRecord

OI_KIND = "openinference.span.kind"
TL_KIND = "traceloop.span.kind"
OI_INPUT = "llm.input_messages."
OI_OUTPUT = "llm.output_messages."
TL_PROMPT = "gen_ai.prompt."
TL_COMPLETION = "gen_ai.completion."


_OI_PREFIXES = (OI_INPUT, OI_OUTPUT)
_PREFIXES = (OI_INPUT, OI_OUTPUT, TL_PROMPT, TL_COMPLETION)


def convention_of(span: SpanRecord) -> str:
    """'openinference', 'openllmetry' or '' (the GenAI conventions, read elsewhere); a span with
    the marks of both is OpenInference's. (One pass over the attribute names: every span is
    asked, and most have none of these.)"""
    attrs = span.attributes
    if OI_KIND in attrs:
        return "openinference"
    openllmetry = TL_KIND in attrs
    for key in attrs:
        if key.startswith(_PREFIXES):
            if key.startswith(_OI_PREFIXES):
                return "openinference"
            openllmetry = True
    return "openllmetry" if openllmetry else ""


def _nest(flat: dict[str, Any], prefix: str) -> list[Any]:
    """`prefix.0.a.b = x` keys -> [{"a": {"b": x}}], by index; numeric levels become lists."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        if not key.startswith(prefix):
            continue
        node = tree
        parts = key[len(prefix) :].split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return _listify(tree)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _openinference_message(item: Any) -> dict[str, Any]:
    message = item.get("message", item) if isinstance(item, dict) else {}
    calls = []
    for call in _as_list(message.get("tool_calls")):
        inner = call.get("tool_call", call) if isinstance(call, dict) else {}
        function = inner.get("function", {}) if isinstance(inner, dict) else {}
        calls.append(
            {
                "id": inner.get("id", ""),
                "function": {"name": function.get("name"), "arguments": function.get("arguments")},
            }
        )
    return {
        "role": message.get("role", "user"),
        "content": message.get("content", ""),
        "tool_calls": calls,
        "tool_call_id": message.get("tool_call_id", ""),
    }


def _as_dict(item: Any) -> dict[str, Any]:
    """An OpenLLMetry message is already in the flat shape `normalise_message` reads (tool calls
    as {"id", "name", "arguments"})."""
    return item if isinstance(item, dict) else {}


def _messages(span: SpanRecord, prefix: str, convert: Any) -> list[Message]:
    out = []
    for i, item in enumerate(_nest(span.attributes, prefix)):
        try:
            out.append(normalise_message(convert(item)))
        except (ValueError, AttributeError) as exc:
            raise span.fail(f"attribute '{prefix}{i}': not a message ({exc})") from None
    return out


def _string(span: SpanRecord, key: str) -> str:
    value = span.attributes.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise span.fail(f"attribute '{key}': expected a string, got {type(value).__name__}")
    return value


def _entity_arguments(raw: Any) -> dict[str, Any]:
    """OpenLLMetry records a tool's input as {"args": [...], "kwargs": {...}} (or "inputs")."""
    parsed = as_arguments(raw)
    for key in ("kwargs", "inputs"):
        if isinstance(parsed.get(key), dict):
            return dict(parsed[key])
    return parsed


def _entity_output(raw: Any) -> str:
    """OpenLLMetry's output is JSON of the returned value: a JSON string is unwrapped."""
    if isinstance(raw, str):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        return value if isinstance(value, str) else as_text(value)
    return as_text(raw)


def tool_of(span: SpanRecord, convention: str) -> tuple[ToolCallPart, ToolResponsePart] | None:
    """A tool span's call and result, or None when the span is not a tool span."""
    attrs = span.attributes
    call_id = str(attrs.get("tool_call.id") or attrs.get("gen_ai.tool.call.id") or "")
    if convention == "openinference" and str(attrs.get(OI_KIND, "")).upper() == "TOOL":
        name = _string(span, "tool.name") or span.name
        arguments = as_arguments(attrs.get("input.value"))
        content = as_text(attrs.get("output.value"))
    elif convention == "openllmetry" and str(attrs.get(TL_KIND, "")).lower() == "tool":
        name = _string(span, "traceloop.entity.name") or span.name.removesuffix(".tool")
        arguments = _entity_arguments(attrs.get("traceloop.entity.input"))
        content = _entity_output(attrs.get("traceloop.entity.output"))
    else:
        return None
    if span.is_error and not content:
        content = span.status_message
    return (
        ToolCallPart(call_id, name, arguments),
        ToolResponsePart(call_id, content, span.is_error),
    )


def chat_messages(span: SpanRecord, convention: str) -> tuple[list[Message], list[Message]]:
    """An LLM span's (input messages, output messages)."""
    if convention == "openinference":
        return (
            _messages(span, OI_INPUT, _openinference_message),
            _messages(span, OI_OUTPUT, _openinference_message),
        )
    return (
        _messages(span, TL_PROMPT, _as_dict),
        _messages(span, TL_COMPLETION, _as_dict),
    )

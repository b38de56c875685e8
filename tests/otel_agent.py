"""An agent instrumented with the OpenTelemetry SDK, for the trace-source tests.

`run_agent` runs a small tool-calling agent (one trace per user: an agent span, a chat span asking
for `get_user`, the tool span, user 3 failing) and hands every span to the given exporters, the way
an instrumented application would; `lookup` is its tool, for the same agent traced otherwise.
`OtlpJsonFile` is the equivalent OTLP file: it encodes each batch with the SDK's own OTLP encoder
and writes it as one line of OTLP JSON (ids in hex), without any wmh code, so a source's steps can
be compared with the file's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

ID_FIELDS = {"traceId", "spanId", "parentSpanId"}
USERS = range(1, 7)
FAILING_USER = 3


def _hex_ids(node):
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in ID_FIELDS and v else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


class OtlpJsonFile(SpanExporter):
    """Appends each export as one OTLP JSON line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = _hex_ids(MessageToDict(encode_spans(spans)))
        with self.path.open("a") as out:
            out.write(json.dumps(body) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def lookup(user_id: int) -> dict:
    """The agent's tool."""
    if user_id == FAILING_USER:
        raise LookupError(f"user {user_id} not found")
    return {"user_id": user_id, "city": ["Lyon", "Oslo"][user_id % 2]}


def result_text(user_id: int) -> str:
    """The tool's answer as the agent sees it: compact JSON, or the exception's message."""
    try:
        return json.dumps(lookup(user_id), separators=(",", ":"))
    except LookupError as exc:
        return str(exc)


def _genai(tracer, user_id: int) -> None:
    task = f"Where does user {user_id} live?"
    args = json.dumps({"user_id": user_id})
    call = {"type": "tool_call", "id": f"call_{user_id}", "name": "get_user", "arguments": args}
    with tracer.start_as_current_span(
        "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        user = [{"role": "user", "parts": [{"type": "text", "content": task}]}]
        with tracer.start_as_current_span(
            "chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(user),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [call]}]),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool get_user",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_user",
                "gen_ai.tool.call.id": f"call_{user_id}",
                "gen_ai.tool.call.arguments": args,
            },
        ) as span:
            span.set_attribute("gen_ai.tool.call.result", result_text(user_id))
            if user_id == FAILING_USER:
                span.set_status(Status(StatusCode.ERROR, result_text(user_id)))


def _openinference(tracer, user_id: int) -> None:
    task = f"Where does user {user_id} live?"
    args = json.dumps({"user_id": user_id})
    p, c = "llm.input_messages", "llm.output_messages"
    call = f"{c}.0.message.tool_calls.0.tool_call"
    with tracer.start_as_current_span(
        "agent", attributes={"openinference.span.kind": "AGENT", "input.value": task}
    ):
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                f"{p}.0.message.role": "user",
                f"{p}.0.message.content": task,
                f"{c}.0.message.role": "assistant",
                f"{call}.id": f"call_{user_id}",
                f"{call}.function.name": "get_user",
                f"{call}.function.arguments": args,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "get_user",
            attributes={
                "openinference.span.kind": "TOOL",
                "tool.name": "get_user",
                "input.value": args,
            },
        ) as span:
            span.set_attribute("output.value", result_text(user_id))
            if user_id == FAILING_USER:
                span.set_status(Status(StatusCode.ERROR, result_text(user_id)))


def run_agent(
    exporters: Sequence[SpanExporter], convention: str = "genai", resource: dict | None = None
) -> None:
    """One trace per user in `USERS`, batched to every exporter; flushed before returning."""
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "support"}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("support-agent")
    trace_one = {"genai": _genai, "openinference": _openinference}[convention]
    for user_id in USERS:
        trace_one(tracer, user_id)
    provider.shutdown()

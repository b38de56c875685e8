"""An OpenTelemetry SDK span exporter that writes OTLP JSON, one export per line.

This is the shape the OpenTelemetry Collector's file exporter writes, and the one wmh ingests:
hex trace and span ids, nanosecond times as decimal strings, attributes as typed AnyValues.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": key_values(value)}}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def key_values(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in (attributes or {}).items()]


_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}


def span_to_otlp(span: ReadableSpan) -> dict[str, Any]:
    """One SDK span as an OTLP JSON span object."""
    context = span.get_span_context()
    assert context is not None
    out: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "name": span.name,
        "kind": span.kind.value + 1,
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": key_values(span.attributes),
    }
    if span.parent is not None:
        out["parentSpanId"] = f"{span.parent.span_id:016x}"
    if span.status.status_code is not StatusCode.UNSET:
        out["status"] = {"code": _STATUS[span.status.status_code]}
        if span.status.description:
            out["status"]["message"] = span.status.description
    return out


def export_of(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Group spans by resource and scope into one `{"resourceSpans": [...]}` export."""
    groups: dict[tuple[str, str, str], list[ReadableSpan]] = {}
    resources: dict[str, Any] = {}
    for span in spans:
        resource_key = json.dumps(dict(span.resource.attributes), sort_keys=True, default=str)
        resources[resource_key] = span.resource
        info = span.instrumentation_scope
        key = (resource_key, info.name if info else "", (info.version or "") if info else "")
        groups.setdefault(key, []).append(span)
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for (resource_key, scope_name, version), members in groups.items():
        scope: dict[str, Any] = {"name": scope_name}
        if version:
            scope["version"] = version
        by_resource.setdefault(resource_key, []).append(
            {"scope": scope, "spans": [span_to_otlp(s) for s in members]}
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values(resources[key].attributes)},
                "scopeSpans": scopes,
            }
            for key, scopes in by_resource.items()
        ]
    }


class OtlpJsonLinesExporter(SpanExporter):
    """Append each exported batch to a file as one OTLP JSON export line."""

    def __init__(self, path: str | Path | IO[str]) -> None:
        self._owned = isinstance(path, str | Path)
        self._out: IO[str] = (
            Path(path).open("a", encoding="utf-8") if isinstance(path, str | Path) else path
        )
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = json.dumps(export_of(spans), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._owned:
                self._out.close()

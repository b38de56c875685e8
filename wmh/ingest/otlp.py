"""Read OTLP JSON trace files into flat span records, auto-detecting the file's shape.

Accepted shapes: one OTLP export per file (`{"resourceSpans": [...]}`, possibly
pretty-printed), one export per line (the OpenTelemetry Collector's file exporter), JSONL of
single spans in OTLP JSON encoding, and a JSON array of exports or of bare spans (whose attributes
may be OTLP key/values or a plain object, as other harnesses write them). Every problem is
reported with the file and line (or JSON path).
"""

from __future__ import annotations

import base64
import gzip
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any, cast

import orjson

from wmh.errors import IngestError

_ERROR_STATUS = {2, "2", "STATUS_CODE_ERROR", "ERROR"}


@dataclass(slots=True)
class SpanRecord:
    """One span with decoded attributes and where it came from."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    is_error: bool
    status_message: str
    path: str
    line: int | None
    where: str = ""
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, reason: str) -> IngestError:
        """An IngestError located at this span."""
        where = f" ({self.where})" if self.where else ""
        return IngestError(
            self.path, self.line, f"span '{self.name}' {self.span_id}{where}: {reason}"
        )


def decode_any_value(value: Any, where: str) -> Any:
    """Decode an OTLP `AnyValue` (`{"stringValue": ...}` etc.) into a Python value."""
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an AnyValue object, got {type(value).__name__}")
    if not value:
        return None
    if "stringValue" in value:
        text = value["stringValue"]
        if not isinstance(text, str):
            raise ValueError(f"{where}: stringValue must be a string")
        return text
    if "intValue" in value:
        raw = value["intValue"]
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(f"{where}: intValue must be an integer or a decimal string")
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{where}: intValue {_unquoted(raw)} is not an integer") from None
    if "doubleValue" in value:
        raw = value["doubleValue"]
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"{where}: doubleValue must be a number")
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{where}: doubleValue {_unquoted(raw)} is not a number") from None
    if "boolValue" in value:
        raw = value["boolValue"]
        if not isinstance(raw, bool):
            raise ValueError(f"{where}: boolValue must be true or false")
        return raw
    if "arrayValue" in value:
        items = _values_list(value["arrayValue"], where)
        return [decode_any_value(item, f"{where}[{i}]") for i, item in enumerate(items)]
    if "kvlistValue" in value:
        return decode_attributes(_values_list(value["kvlistValue"], where), where)
    if "bytesValue" in value:
        try:
            return base64.b64decode(value["bytesValue"]).decode("utf-8", "replace")
        except (ValueError, TypeError):
            raise ValueError(f"{where}: bytesValue is not base64") from None
    keys = ", ".join(sorted(value))
    raise ValueError(
        f"{where}: unknown AnyValue field(s) {keys}; expected one of stringValue, intValue, "
        "doubleValue, boolValue, arrayValue, kvlistValue, bytesValue"
    )


def _values_list(container: Any, where: str) -> list[Any]:
    if not isinstance(container, dict):
        raise ValueError(f"{where}: expected an object with 'values'")
    values = container.get("values", [])
    if not isinstance(values, list):
        raise ValueError(f"{where}: 'values' must be a list")
    return values


def decode_attributes(items: Any, where: str = "attributes") -> dict[str, Any]:
    """Decode an OTLP `KeyValue` list into a dict; a plain JSON object (as some exporters write
    bare spans) is taken as it is."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    if not isinstance(items, list):
        raise ValueError(f"{where}: expected a list of {{key, value}} objects")
    decoded: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValueError(f"{where}[{i}]: expected an object with a string 'key'")
        value = item.get("value", {})
        # Fast path for the overwhelmingly common plain string attribute.
        # The few attribute names are shared, not held once per span (ingest holds every span
        # until its trace is assembled: a tenth of their memory).
        key = sys.intern(item["key"])
        if type(value) is dict and len(value) == 1 and type(value.get("stringValue")) is str:
            decoded[key] = value["stringValue"]
        else:
            decoded[key] = decode_any_value(value, f"{where}['{key}']")
    return decoded


def _nanos(raw: Any, field_name: str, required: bool) -> int:
    if raw is None or raw == "":
        if required:
            raise ValueError(f"missing '{field_name}'")
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"'{field_name}' must be an integer or a decimal string")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"'{field_name}' {_unquoted(raw)} is not an integer") from None


def _unquoted(raw: object) -> str:
    """What a bad value is, without its text: an attribute may hold a secret (an API key where a
    number belongs), and error messages and build logs must not carry it."""
    return f"(a string of {len(raw)} characters)" if isinstance(raw, str) else type(raw).__name__


def _span_id(raw: Any, field_name: str, required: bool) -> str:
    if raw is None or raw == "":
        if required:
            raise ValueError(f"missing '{field_name}'")
        return ""
    if not isinstance(raw, str):
        raise ValueError(f"'{field_name}' must be a hex string, got {type(raw).__name__}")
    return raw.lower()


def parse_span(obj: Any, path: str, line: int | None, where: str = "") -> SpanRecord:
    """Turn one OTLP JSON span object into a SpanRecord, or raise IngestError saying why not."""
    loc = f" ({where})" if where else ""
    if not isinstance(obj, dict):
        raise IngestError(path, line, f"expected a span object{loc}, got {json_kind(obj)}")
    name = obj.get("name", "")
    try:
        if not isinstance(name, str):
            raise ValueError("'name' must be a string")
        status = obj.get("status") or {}
        if not isinstance(status, dict):
            raise ValueError("'status' must be an object")
        code = status.get("code")
        if code is not None and not isinstance(code, int | str):
            raise ValueError("'status.code' must be a number or a string")
        events = obj.get("events") or []
        if not isinstance(events, list):
            raise ValueError("'events' must be a list")
        # A trace's id, a parent's id and a span name are shared by many spans: held once.
        record = SpanRecord(
            trace_id=sys.intern(_span_id(obj.get("traceId"), "traceId", True)),
            span_id=_span_id(obj.get("spanId"), "spanId", True),
            parent_id=sys.intern(_span_id(obj.get("parentSpanId"), "parentSpanId", False)),
            name=sys.intern(name),
            start_ns=_nanos(obj.get("startTimeUnixNano"), "startTimeUnixNano", True),
            end_ns=_nanos(obj.get("endTimeUnixNano"), "endTimeUnixNano", False),
            attributes=decode_attributes(obj.get("attributes")),
            is_error=code in _ERROR_STATUS,
            status_message=str(status.get("message") or ""),
            path=path,
            line=line,
            where=where,
            events=[e for e in events if isinstance(e, dict)],
        )
    except ValueError as exc:
        label = f"span '{name}'" if isinstance(name, str) and name else "span"
        raise IngestError(path, line, f"{label}{loc}: {exc}") from None
    if not record.end_ns:
        record.end_ns = record.start_ns
    return record


def spans_of_export(export: dict[str, Any], path: str, line: int | None) -> Iterator[SpanRecord]:
    """Yield the spans of one OTLP export (`{"resourceSpans": [...]}`)."""
    resource_spans = export.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise IngestError(path, line, "'resourceSpans' must be a list")
    for r, resource in enumerate(resource_spans):
        scopes = resource.get("scopeSpans", []) if isinstance(resource, dict) else None
        if not isinstance(scopes, list):
            raise IngestError(path, line, f"resourceSpans[{r}].scopeSpans must be a list")
        for s, scope in enumerate(scopes):
            spans = scope.get("spans", []) if isinstance(scope, dict) else None
            if not isinstance(spans, list):
                raise IngestError(
                    path, line, f"resourceSpans[{r}].scopeSpans[{s}].spans: not a list"
                )
            for k, span in enumerate(spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{k}]"
                yield parse_span(span, path, line, where)


def _json_error_reason(exc: orjson.JSONDecodeError, raw: bytes) -> tuple[int | None, str]:
    """Why `raw` (a line, or a whole file) is no JSON, and on which line of it: bytes that are
    no UTF-8 are named as such (orjson calls them "surrogates not allowed at column 1",
    wherever they are)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        line_start = raw.rfind(b"\n", 0, bad.start) + 1
        return raw.count(b"\n", 0, bad.start) + 1, (
            f"not UTF-8 text (byte 0x{raw[bad.start]:02x} at byte {bad.start - line_start + 1} "
            "of the line); trace files are read as UTF-8"
        )
    return exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})"


def json_kind(value: Any) -> str:
    """A JSON value's kind as JSON names it (`null`, `an array`), not as Python does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


def read_span_file(path: str | Path) -> Iterator[SpanRecord]:
    """Yield every span in a trace file, whatever its accepted shape."""
    file = Path(path)
    label = str(path)
    if not file.exists():
        raise IngestError(label, None, "no such file")
    if not file.is_file():
        raise IngestError(
            label, None, "not a regular file (a folder, a pipe or a device: give a trace file)"
        )
    try:
        handle: IO[bytes] = file.open("rb")
        packed = handle.read(2) == GZIP_MAGIC
        if packed:  # `traces.jsonl.gz`: read as it unpacks
            handle.close()
            handle = cast(IO[bytes], gzip.open(file, "rb"))
        else:
            handle.seek(0)
    except OSError as exc:
        raise IngestError(label, None, f"cannot read: {exc.strerror}") from None
    if not packed:
        yield from _read_handle(handle, label)
        return
    try:
        yield from _read_handle(handle, label)
    except (OSError, EOFError, zlib.error) as exc:  # a damaged or cut-short gzip file
        raise IngestError(label, None, f"cannot unpack the gzip file ({exc})") from None


def _read_handle(handle: IO[bytes], label: str) -> Iterator[SpanRecord]:
    with handle:
        # JSON lines are read one at a time: a build of a million steps would otherwise hold
        # the file twice over (its bytes and its lines) while it reads the spans.
        skipped, first = 0, b""
        for raw in handle:
            if not skipped:  # a byte order mark (some Windows tools): no part of the JSON
                raw = raw.removeprefix(BOM)
            skipped += 1
            if raw.strip():
                first = raw
                break
        if not first:
            raise IngestError(label, None, "the file is empty")
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            handle.seek(0)
            yield from _read_whole_export(handle.read().removeprefix(BOM), label)
            return
        seq = 0
        for number, raw in enumerate(chain([first], handle), start=skipped):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise IngestError(label, number, _json_error_reason(exc, raw)[1]) from None
            for record in _spans_of_value(obj, label, number):
                record.seq = seq
                seq += 1
                yield record


def _read_whole_export(data: bytes, label: str) -> Iterator[SpanRecord]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        line, reason = _json_error_reason(exc, data)
        raise IngestError(label, line, reason) from None
    if not isinstance(obj, dict | list) or (isinstance(obj, dict) and "resourceSpans" not in obj):
        raise IngestError(
            label,
            None,
            'expected an OTLP export ({"resourceSpans": [...]}), a JSON array of exports or '
            "spans, or JSON lines of either",
        )
    for seq, record in enumerate(_spans_of_value(obj, label, None)):
        record.seq = seq
        yield record


def _spans_of_value(obj: Any, label: str, line: int | None) -> Iterator[SpanRecord]:
    """The spans of one JSON value: an OTLP export, one span, or an array of either."""
    items = obj if isinstance(obj, list) else [obj]
    for i, item in enumerate(items):
        where = f"[{i}]" if isinstance(obj, list) else ""
        if isinstance(item, dict) and "resourceSpans" in item:
            yield from spans_of_export(item, label, line)
        else:
            yield parse_span(item, label, line, where)

"""`wmh collect`: an OTLP/HTTP trace endpoint that appends what it receives to a corpus file.

Any OpenTelemetry SDK or Collector can export to `http://127.0.0.1:4318/v1/traces`, in protobuf
(`application/x-protobuf`) or JSON, plain or compressed (gzip, the Collector's default, or
deflate). Each accepted export becomes one line of OTLP JSON (ids in hex, as the JSON encoding has
them) in the output file, which `wmh build` reads as it is. An export is checked with the same
parser ingest uses before anything is written: a malformed one is answered 400 with the reason
(415 for an unknown compression), and the file is left as it was.
"""

from __future__ import annotations

import base64
import os
import threading
import zlib
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wmh.errors import IngestError
from wmh.ingest.otlp import spans_of_export

PROTOBUF = "application/x-protobuf"
# A decompressed export larger than this is refused (a gzip bomb would otherwise fill memory).
MAX_EXPORT_BYTES = 256 * 1024 * 1024
_ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(node: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP JSON wants trace and span ids in hex."""
    if isinstance(node, dict):
        return {
            key: (
                base64.b64decode(value).hex()
                if key in _ID_FIELDS and isinstance(value, str) and value
                else _hex_ids(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(ValueError):
    """A `Content-Encoding` the endpoint does not decode."""


def decompress(body: bytes, encoding: str) -> bytes:
    """The body of an export sent with `Content-Encoding` (gzip, as the Collector sends by
    default, or deflate, which the Python SDK offers); raises ValueError for a corrupt body or
    another encoding."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported (gzip, deflate or none)"
        )
    inflater = zlib.decompressobj(wbits=_WBITS[encoding])
    try:
        plain = inflater.decompress(body, MAX_EXPORT_BYTES)
    except zlib.error as exc:
        raise ValueError(f"not a {encoding} body ({exc})") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"the export is larger than {MAX_EXPORT_BYTES // 2**20} MiB uncompressed")
    if not inflater.eof:
        raise ValueError(f"a truncated {encoding} body")
    return plain


def decode_export(body: bytes, content_type: str) -> dict[str, Any]:
    """An OTLP trace export as an OTLP JSON dict; raises ValueError when it is not one."""
    if content_type.startswith(PROTOBUF):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        try:
            request = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            raise ValueError(f"not an OTLP protobuf trace export ({exc})") from None
        return _hex_ids(MessageToDict(request, use_integers_for_enums=True))
    try:
        export = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(export, dict):
        raise ValueError("an OTLP export is a JSON object with 'resourceSpans'")
    return export


class Collector:
    """Appends checked exports to `out`, one JSON line each, one writer at a time."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.spans = 0
        self.exports = 0
        self._lock = threading.Lock()

    def accept(self, body: bytes, content_type: str) -> int:
        """Check and append one export; returns its span count. Raises ValueError if malformed."""
        export = decode_export(body, content_type)
        try:
            count = sum(1 for _ in spans_of_export(export, "export", None))
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        line = orjson.dumps(export) + b"\n"
        with self._lock, self.out.open("ab") as sink:
            sink.write(line)
            sink.flush()
            os.fsync(sink.fileno())
            self.spans += count
            self.exports += 1
        return count


def create_collector_app(collector: Collector) -> Starlette:
    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/json")
        body = await request.body()
        try:
            body = decompress(body, request.headers.get("content-encoding", ""))
            collector.accept(body, content_type)
        except ValueError as exc:
            status = 415 if isinstance(exc, UnsupportedEncoding) else 400
            return JSONResponse({"detail": f"rejected: {exc}"}, status_code=status)
        if content_type.startswith(PROTOBUF):
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceResponse,
            )

            return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)
        return JSONResponse({"partialSuccess": {}})

    async def health(_: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "exports": collector.exports, "spans": collector.spans}
        )

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )

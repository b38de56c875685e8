"""`wmh collect`: an OTLP/HTTP trace endpoint that appends what it receives to a corpus file.

Any OpenTelemetry SDK or Collector can export to `http://127.0.0.1:4318/v1/traces`, in protobuf
(`application/x-protobuf`) or JSON, plain or compressed (gzip, the Collector's default, or
deflate). Each accepted export becomes one line of OTLP JSON (ids in hex, as the JSON encoding has
them) in the output file, which `wmh build` reads as it is. An export is checked with the same
parser and attribute checks ingest uses before anything is written: a malformed or empty one is
answered 400 with the reason (415 for an unknown compression, 413 past `max_bytes`, sent or
decompressed), and the file is left as it was. Each export is appended as one whole line and
synced; on start, a last line left unterminated by a killed collector is cut (and counted), so the
file always builds (a complete last export without its newline is ended instead, and a file that
is not JSON lines is refused).
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

from wmh.errors import ConfigError, IngestError
from wmh.ingest.genai import span_facts
from wmh.ingest.otlp import spans_of_export

PROTOBUF = "application/x-protobuf"
# An export larger than this, as sent or decompressed, is refused (a gzip bomb or a huge body
# would otherwise fill memory); `wmh collect --max-mib` changes it.
MAX_EXPORT_BYTES = 32 * 1024 * 1024
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


class TooLarge(ValueError):
    """An export over the collector's size limit."""


def decompress(body: bytes, encoding: str, limit: int = MAX_EXPORT_BYTES) -> bytes:
    """The body of an export sent with `Content-Encoding` (gzip, as the Collector sends by
    default, or deflate, which the Python SDK offers); raises ValueError for a corrupt body or
    another encoding, TooLarge past `limit` bytes decompressed."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported (gzip, deflate or none)"
        )
    inflater = zlib.decompressobj(wbits=_WBITS[encoding])
    try:
        plain = inflater.decompress(body, limit)
    except zlib.error as exc:
        raise ValueError(f"not a {encoding} body ({exc})") from None
    if inflater.unconsumed_tail:
        raise TooLarge(f"the export is larger than {limit} bytes uncompressed")
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


def check_corpus_path(out: Path) -> None:
    """Refuse, before any export arrives, a corpus file that could never be appended to (each
    export would be answered 500 and lost): a directory, a path under a file, or no write
    permission. Makes the missing folders."""
    if out.is_dir():
        raise ConfigError(f"{out} is a directory: --out names the corpus file to append to")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{out} cannot be created: a part of its folder is a file") from None
    except OSError as exc:
        raise ConfigError(f"{out.parent} cannot be created: {exc.strerror}") from None
    try:  # as each export will be written (permission bits say nothing of /proc or a root)
        with out.open("ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"{out} cannot be written ({exc.strerror or exc})") from None


def _json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def repair(path: Path) -> int:
    """Make an existing corpus file ready for appending; returns the number of bytes cut.

    A last line left unterminated by a collector killed while writing it is cut. One that is a
    whole export (a file written without a final newline) is kept and ended. A file that is
    not JSON lines at all (a pretty-printed export) is refused: lines appended to it would make
    it unreadable as either."""
    if not path.is_file():
        return 0
    with path.open("rb+") as file:
        first = file.readline()
        size = file.seek(0, os.SEEK_END)
        if not size:
            return 0
        if first.endswith(b"\n") and first.strip() and not _json(first):
            raise ConfigError(
                f"{path} is not JSON lines (its first line is no JSON document): collect into "
                "another file"
            )
        file.seek(size - 1)
        if file.read(1) == b"\n":
            return 0
        keep = size
        while keep > 0:
            start = max(0, keep - 65536)
            file.seek(start)
            chunk = file.read(keep - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        file.seek(keep)
        if _json(file.read(size - keep)):  # a whole export, only unterminated: ended
            file.write(b"\n")
            keep = size
        else:
            file.truncate(keep)
        file.flush()
        os.fsync(file.fileno())
        return size - keep


class Collector:
    """Appends checked exports to `out`, one JSON line each, one writer at a time."""

    def __init__(self, out: str | Path, max_bytes: int = MAX_EXPORT_BYTES) -> None:
        self.out = Path(out)
        if max_bytes < 1:
            raise ConfigError(f"the largest export must be at least 1 byte, got {max_bytes}")
        check_corpus_path(self.out)
        self.max_bytes = max_bytes
        self.repaired_bytes = repair(self.out)
        self.spans = 0
        self.exports = 0
        self._lock = threading.Lock()

    def accept(self, body: bytes, content_type: str) -> int:
        """Check and append one export; returns its span count. Raises ValueError if malformed
        or empty."""
        export = decode_export(body, content_type)
        count = 0
        try:
            for span in spans_of_export(export, "export", None):
                span_facts(span)  # the attribute checks a build applies to it
                count += 1
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        if not count:
            raise ValueError("the export holds no span")
        line = orjson.dumps(export) + b"\n"
        with self._lock, self.out.open("ab") as sink:
            sink.write(line)
            sink.flush()
            os.fsync(sink.fileno())
            self.spans += count
            self.exports += 1
        return count


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body as sent, refused as soon as it passes `limit` bytes (never held whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the export is larger than {limit} bytes ({declared} sent)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the export is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_collector_app(collector: Collector) -> Starlette:
    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/json")
        try:
            body = await _read_limited(request, collector.max_bytes)
            body = decompress(
                body, request.headers.get("content-encoding", ""), collector.max_bytes
            )
            collector.accept(body, content_type)
        except ValueError as exc:
            status = 415 if isinstance(exc, UnsupportedEncoding) else 400
            status = 413 if isinstance(exc, TooLarge) else status
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

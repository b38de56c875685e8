"""`wmh collect`: OTLP/HTTP exports in protobuf and JSON become a corpus that builds the same steps;
a malformed export is refused with 400 and nothing written."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import wmh_build
from tests.serving.servers import answers_ok, background, free_port
from wmh.ingest.collect import PROTOBUF
from wmh.ingest.reader import read_traces
from wmh.ingest.synthetic import write_corpus

ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def _b64_ids(node):
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode() if k in ID_FIELDS and v else _b64_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_b64_ids(item) for item in node]
    return node


@contextmanager
def collecting(out: Path) -> Iterator[str]:
    """`wmh collect --out OUT` on a free port; yields its URL once it answers, stops it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(Path(sys.executable).parent / "wmh"), "collect", "--out", str(out), "--port",
            str(port)]  # fmt: skip
    with background(argv, answers_ok(f"{url}/healthz"), "collect", out.with_suffix(".log")):
        yield url


def test_collected_exports_build_the_same_steps(tmp_path: Path) -> None:
    source = write_corpus(tmp_path / "source.jsonl", traces=12, seed=3)
    by_trace: dict[str, list] = {}
    for line in source.read_text().splitlines():
        span = json.loads(line)
        by_trace.setdefault(span["traceId"], []).append(span)
    exports = [
        {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}
        for spans in by_trace.values()
    ]
    out = tmp_path / "collected.jsonl"
    with collecting(out) as url:
        with httpx.Client(base_url=url) as client:
            for i, export in enumerate(exports):
                # OTLP protobuf and OTLP JSON; JSON also gzip- and deflate-compressed, as the
                # Collector (gzip by default) and the SDK (either, on request) send them.
                if i % 4 == 1:
                    message = ParseDict(_b64_ids(export), ExportTraceServiceRequest())
                    body, headers = message.SerializeToString(), {"content-type": PROTOBUF}
                else:
                    body, headers = (
                        json.dumps(export).encode(),
                        {"content-type": "application/json"},
                    )
                    if i % 4 in (2, 3):
                        encoding = "gzip" if i % 4 == 2 else "deflate"
                        body = (gzip.compress if encoding == "gzip" else zlib.compress)(body)
                        headers["content-encoding"] = encoding
                answer = client.post("/v1/traces", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
            size = out.stat().st_size
            for bad, kind in (
                (b"\x0a\x05garbage", "application/x-protobuf"),
                (b"{not json", "application/json"),
                (
                    json.dumps(
                        {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}
                    ).encode(),
                    "application/json",
                ),
            ):
                refused = client.post("/v1/traces", content=bad, headers={"content-type": kind})
                assert refused.status_code == 400 and refused.json()["detail"].startswith(
                    "rejected"
                )
            good = json.dumps(exports[0]).encode()
            for body, encoding, status, reason in (
                (good[:40], "gzip", 400, "not a gzip body"),
                (gzip.compress(good)[:-12], "gzip", 400, "truncated gzip"),
                (zlib.compress(good)[:-3], "deflate", 400, "truncated deflate"),
                (good, "br", 415, "Content-Encoding 'br' is not supported"),
            ):
                refused = client.post(
                    "/v1/traces",
                    content=body,
                    headers={"content-type": "application/json", "content-encoding": encoding},
                )
                assert refused.status_code == status and reason in refused.json()["detail"]
            assert out.stat().st_size == size
    expected = read_traces([source]).traces
    got = read_traces([out]).traces
    assert [s.model_dump() for t in got for s in t.steps] == [
        s.model_dump() for t in expected for s in t.steps
    ]


def test_the_otel_sdk_exporter_sends_straight_into_a_corpus(tmp_path: Path) -> None:
    """An agent instrumented with the OpenTelemetry SDK exports over OTLP/HTTP (protobuf, the
    SDK's default; gzip-compressed, as the Collector sends by default) to `wmh collect`; the
    collected corpus gives the same steps as the same spans written to an OTLP file, and
    `wmh build` builds a model from it."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from tests.otel_agent import FAILING_USER, USERS, OtlpJsonFile, run_agent

    out, reference = tmp_path / "collected.jsonl", tmp_path / "reference.jsonl"
    with collecting(out) as url:
        exporter = OTLPSpanExporter(
            endpoint=f"{url}/v1/traces", timeout=10, compression=Compression.Gzip
        )
        run_agent([exporter, OtlpJsonFile(reference)])
    expected = [s.model_dump() for t in read_traces([reference]).traces for s in t.steps]
    got = [s.model_dump() for t in read_traces([out]).traces for s in t.steps]
    assert len(expected) == len(USERS) and got == expected
    errors = [s["action"]["arguments"]["user_id"] for s in got if s["observation"]["is_error"]]
    assert errors == [FAILING_USER]

    wmh_build(tmp_path / "s", "collected", "--file", str(out))


def _export(spans: list) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


def test_oversized_bombs_and_empty_exports_are_refused_and_nothing_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "collected.jsonl"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(Path(sys.executable).parent / "wmh"), "collect", "--out", str(out), "--port",
            str(port), "--max-mib", "1"]  # fmt: skip
    with background(argv, answers_ok(f"{url}/healthz"), "collect", tmp_path / "c.log"):
        with httpx.Client(base_url=url, timeout=30) as client:
            bomb = gzip.compress(b" " * (20 * 2**20))  # 20 KiB that inflate to 20 MiB
            headers = {"content-type": "application/json", "content-encoding": "gzip"}
            refused = client.post("/v1/traces", content=bomb, headers=headers)
            assert refused.status_code == 413 and "uncompressed" in refused.json()["detail"]
            plain = b"[" + b"0," * (2**20) + b"0]"  # 2 MiB as sent
            refused = client.post(
                "/v1/traces", content=plain, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 413 and "larger than 1048576" in refused.json()["detail"]
            empty = client.post(
                "/v1/traces", content=_export([]), headers={"content-type": "application/json"}
            )
            assert empty.status_code == 400 and "holds no span" in empty.json()["detail"]
            health = client.get("/healthz").json()
            assert health["exports"] == 0 and health["spans"] == 0
    assert not out.exists() or out.read_bytes() == b""


def test_a_collector_killed_mid_write_leaves_a_file_that_builds(tmp_path: Path) -> None:
    source = write_corpus(tmp_path / "source.jsonl", traces=6, seed=4)
    spans = [json.loads(line) for line in source.read_text().splitlines()]
    by_trace: dict[str, list] = {}
    for span in spans:
        by_trace.setdefault(span["traceId"], []).append(span)
    out = tmp_path / "collected.jsonl"
    whole = [_export(trace_spans) for trace_spans in by_trace.values()]
    # what a collector killed while writing its sixth export left behind
    out.write_bytes(b"\n".join(whole[:5]) + b"\n" + whole[5][: len(whole[5]) // 2])
    with collecting(out) as url:
        answer = httpx.post(
            f"{url}/v1/traces", content=whole[5], headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200
    lines = out.read_bytes().splitlines()
    assert len(lines) == 6 and all(json.loads(line) for line in lines)
    assert "cut an unterminated last line" in (out.with_suffix(".log")).read_text()
    got = read_traces([out]).traces
    assert len(got) == 6 == len(read_traces([source]).traces)
    wmh_build(tmp_path / "store", "collected", "--file", str(out))


def test_a_whole_last_export_without_its_newline_is_kept_and_a_pretty_file_refused(
    tmp_path: Path,
) -> None:
    from wmh.errors import ConfigError
    from wmh.ingest.collect import Collector

    source = write_corpus(tmp_path / "source.jsonl", traces=3, seed=5)
    spans = [json.loads(line) for line in source.read_text().splitlines()]
    by_trace: dict[str, list] = {}
    for span in spans:
        by_trace.setdefault(span["traceId"], []).append(span)
    whole = [_export(trace_spans) for trace_spans in by_trace.values()]
    # As "\n".join writes it: every export whole, the last without a newline. It was cut.
    out = tmp_path / "joined.jsonl"
    out.write_bytes(b"\n".join(whole))
    collector = Collector(out)
    assert collector.repaired_bytes == 0 and out.read_bytes() == b"\n".join(whole) + b"\n"
    assert len(read_traces([out]).traces) == 3
    # A pretty-printed export: its closing brace was cut, and lines appended after it.
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(whole[0]), indent=2))
    before = pretty.read_bytes()
    with pytest.raises(ConfigError, match="is not JSON lines .* collect into another file"):
        Collector(pretty)
    assert pretty.read_bytes() == before


def test_an_export_a_build_would_refuse_is_refused_and_the_file_still_builds(
    tmp_path: Path,
) -> None:
    from wmh.ingest.collect import Collector

    source = write_corpus(tmp_path / "source.jsonl", traces=2, seed=3)
    spans = [json.loads(line) for line in source.read_text().splitlines()]
    first = spans[0]["traceId"]
    good = [s for s in spans if s["traceId"] == first]
    other = [s for s in spans if s["traceId"] != first]
    collector = Collector(tmp_path / "collected.jsonl")
    assert collector.accept(_export(good), "application/json") == len(good)
    kept = collector.out.read_bytes()
    # The second trace's spans are well formed, but one names its operation with a number.
    (agent,) = [s for s in other if s["name"].startswith("invoke_agent")]
    agent["attributes"] = [{"key": "gen_ai.operation.name", "value": {"intValue": "5"}}]
    with pytest.raises(ValueError, match="attribute 'gen_ai.operation.name': expected a string"):
        collector.accept(_export(other), "application/json")
    assert collector.out.read_bytes() == kept and collector.exports == 1
    assert read_traces([collector.out]).report.traces == 1

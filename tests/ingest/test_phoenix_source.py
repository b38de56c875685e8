"""`source=phoenix`: a real Arize Phoenix server (`phoenix serve`, from its own environment that
`make phoenix-server` installs) receives an instrumented agent's spans from the OpenTelemetry SDK;
wmh reads them back through the Phoenix client into the same steps as the same spans in an OTLP
file, and `wmh build -o source=phoenix` builds a model."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings, wmh_build
from tests.otel_agent import FAILING_USER, USERS, OtlpJsonFile, run_agent
from tests.serving.servers import answers_ok, background, free_port, wait_until
from wmh.errors import ConfigError, WmhError
from wmh.ingest.reader import read_traces
from wmh.ingest.sources import ingest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "support-agent"


def _phoenix_bin() -> Path:
    found = Path(os.environ.get("WMH_PHOENIX_BIN", ROOT / ".venv-phoenix" / "bin" / "phoenix"))
    if not found.is_file():
        pytest.fail(
            f"no Phoenix server at {found}: run `make phoenix-server` (or set WMH_PHOENIX_BIN)"
        )
    return found


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    env.update(
        PHOENIX_WORKING_DIR=str(work),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        # Nothing leaves 127.0.0.1: no telemetry, no sandbox download, no docs assistant.
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        PHOENIX_DISABLE_AGENT_ASSISTANT="true",
    )
    url = f"http://127.0.0.1:{port}"
    argv = [str(_phoenix_bin()), "serve"]
    ready = answers_ok(f"{url}/healthz")
    with background(argv, ready, "phoenix serve", work / "phoenix.log", env=env, timeout=120):
        yield url


def _spans_in(settings) -> int:
    try:
        return ingest(settings).report.spans
    except WmhError:  # the project appears with its first span
        return 0


def test_phoenix_spans_become_the_same_steps_and_a_model(phoenix: str, tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    reference = tmp_path / "reference.jsonl"
    exporter = OTLPSpanExporter(endpoint=f"{phoenix}/v1/traces", timeout=10)
    run_agent(
        [exporter, OtlpJsonFile(reference)],
        convention="openinference",
        resource={"service.name": "support", "openinference.project.name": PROJECT},
    )
    settings = make_settings(
        tmp_path, "from-phoenix", [], "source=phoenix", f"source.endpoint={phoenix}",
        f"source.project={PROJECT}",
    )  # fmt: skip
    # Phoenix ingests exports asynchronously: wait until every span is queryable.
    wait_until(lambda: _spans_in(settings) == 3 * len(USERS), 30, "phoenix spans")
    result = ingest(settings)
    assert result.report.files == [f"phoenix:{PROJECT}"] and result.report.traces == len(USERS)
    expected = [s.model_dump() for t in read_traces([reference]).traces for s in t.steps]
    got = [s.model_dump() for t in result.traces for s in t.steps]
    assert len(expected) == len(USERS) and got == expected
    errors = [s["action"]["arguments"]["user_id"] for s in got if s["observation"]["is_error"]]
    assert errors == [FAILING_USER]

    wmh_build(
        tmp_path / "store", "from-phoenix", "-o", "source=phoenix",
        "-o", f"source.endpoint={phoenix}", "-o", f"source.project={PROJECT}",
    )  # fmt: skip


def test_phoenix_errors_name_the_setting(phoenix: str, tmp_path: Path) -> None:
    missing = make_settings(
        tmp_path, "x", [], "source=phoenix", f"source.endpoint={phoenix}", "source.project=nope"
    )
    with pytest.raises(ConfigError, match="source.project: no Phoenix project 'nope'"):
        ingest(missing)
    closed = f"http://127.0.0.1:{free_port()}"
    down = make_settings(
        tmp_path, "x", [], "source=phoenix", f"source.endpoint={closed}", "source.project=p"
    )
    with pytest.raises(ConfigError, match=f"source.endpoint: cannot reach Phoenix at {closed}"):
        ingest(down)


def test_without_the_phoenix_extra_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "phoenix.client", None)  # as if not installed
    settings = make_settings(tmp_path, "x", [], "source=phoenix", "source.project=p")
    with pytest.raises(ConfigError, match=r"pip install 'wmh\[phoenix\]'"):
        ingest(settings)

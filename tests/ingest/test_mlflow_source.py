"""`source=mlflow`: traces logged through MLflow's tracing API (a traced tool-calling agent) are
read through MLflow's own trace search into the same steps as the same run traced with
OpenTelemetry GenAI spans into an OTLP file, and `wmh build` builds from them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings, wmh_build
from tests.otel_agent import FAILING_USER, USERS, OtlpJsonFile, run_agent
from wmh.ingest.reader import read_traces
from wmh.ingest.sources import ingest

ROOT = Path(__file__).resolve().parents[2]

# The same agent as tests/otel_agent.py, traced with MLflow's tracing API instead of OpenTelemetry.
AGENT = """
import json, mlflow
from mlflow.entities import SpanType
from tests.otel_agent import USERS, lookup
mlflow.set_experiment("support-agent")

@mlflow.trace(span_type=SpanType.TOOL, name="get_user")
def get_user(user_id):
    return lookup(user_id)

@mlflow.trace(span_type=SpanType.CHAT_MODEL, name="chat")
def chat(messages, user_id):
    call = {"id": f"call_{user_id}", "type": "function",
            "function": {"name": "get_user", "arguments": json.dumps({"user_id": user_id})}}
    return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}

@mlflow.trace(span_type=SpanType.AGENT, name="agent")
def agent(user_id):
    task = f"Where does user {user_id} live?"
    chat([{"role": "user", "content": task}], user_id)
    return get_user(user_id=user_id)

for user_id in USERS:
    try:
        agent(user_id)
    except LookupError:  # the failing user's trace ends in error (status ERROR)
        pass
mlflow.flush_trace_async_logging()
"""

# What differs between two recordings of the same run: the ids.
RUN_IDS = {"trace_id", "raw_span_ids"}


def _steps(traces) -> list[dict]:
    dumps = [s.model_dump(exclude=RUN_IDS) for t in traces for s in t.steps]
    return sorted(dumps, key=lambda step: step["task"])


def _log_traces(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'traces.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", AGENT],
        env={**env, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return uri


def test_mlflow_traces_become_steps_and_a_model(tmp_path: Path) -> None:
    uri = _log_traces(tmp_path)
    settings = make_settings(
        tmp_path,
        "from-mlflow",
        [],
        "source=mlflow",
        f"source.tracking_uri='{uri}'",
        "source.experiment=support-agent",
    )
    result = ingest(settings)
    assert result.report.traces == len(USERS)
    assert result.report.files == ["mlflow:support-agent"]
    assert result.report.summary().startswith("6 steps from 6 traces in mlflow:support-agent")
    # A trace file given beside the store is not read, and the summary says so.
    with_file = dataclasses.replace(
        settings, data=dataclasses.replace(settings.data, files=["x.jsonl"])
    )
    assert (
        ingest(with_file)
        .report.summary()
        .endswith(
            "; 1 trace file of data.files / data.path not read (source=mlflow reads only its "
            "store): x.jsonl"
        )
    )
    reference = tmp_path / "reference.jsonl"
    run_agent([OtlpJsonFile(reference)])  # the same run, traced with OpenTelemetry GenAI spans
    got = _steps(result.traces)
    assert len(got) == len(USERS) and got == _steps(read_traces([reference]).traces)
    failed = [s for s in got if s["observation"]["is_error"]]
    assert [s["action"]["arguments"] for s in failed] == [{"user_id": FAILING_USER}]
    assert failed[0]["observation"]["content"] == f"user {FAILING_USER} not found"

    wmh_build(
        tmp_path / "store", "from-mlflow", "-o", "source=mlflow",
        "-o", f"source.tracking_uri={uri}", "-o", "source.experiment=support-agent",
        # as the README types it: `-o "source.filter=\"status = 'OK'\""`
        "-o", "source.filter=\"status = 'OK'\"",
    )  # fmt: skip
    # The filter reached MLflow: the trace that ended in error was not read.
    card = json.loads((tmp_path / "store" / "models" / "from-mlflow" / "model.json").read_text())
    assert card["ingest"]["traces"] == len(USERS) - 1
    # A filter MLflow does not take: one line that names it (it was MLflow's traceback).
    import pytest

    from wmh.errors import ConfigError

    bogus = dataclasses.replace(
        settings, source=dataclasses.replace(settings.source, filter="bogus.field = 'OK'")
    )
    with pytest.raises(ConfigError, match=r"source.filter \"bogus.field = 'OK'\" is not a filter"):
        ingest(bogus)


def test_a_missing_experiment_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from wmh.errors import ConfigError

    settings = make_settings(
        tmp_path,
        "x",
        [],
        "source=mlflow",
        f"source.tracking_uri='sqlite:///{tmp_path}/e.db'",
        "source.experiment=nope",
    )
    with pytest.raises(ConfigError, match="no MLflow experiment 'nope'"):
        ingest(settings)

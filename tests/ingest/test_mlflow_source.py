"""`source=mlflow`: traces logged through MLflow's tracing API (a traced tool-calling agent) are
read through MLflow's own trace search into the same steps, and `wmh build` builds from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from wmh.ingest.sources import ingest

AGENT = """
import json, mlflow
from mlflow.entities import SpanType
mlflow.set_experiment("support-agent")

@mlflow.trace(span_type=SpanType.TOOL, name="get_user")
def get_user(user_id):
    if user_id == 3:
        raise ValueError("user 3 not found")
    return {"user_id": user_id, "city": ["Lyon", "Oslo"][user_id % 2]}

@mlflow.trace(span_type=SpanType.CHAT_MODEL, name="chat")
def chat(messages, user_id):
    call = {"id": f"call_{user_id}", "type": "function",
            "function": {"name": "get_user", "arguments": json.dumps({"user_id": user_id})}}
    return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}

@mlflow.trace(span_type=SpanType.AGENT, name="agent")
def agent(user_id):
    task = f"Where does user {user_id} live?"
    chat([{"role": "user", "content": task}], user_id)
    try:
        return get_user(user_id=user_id)
    except ValueError as exc:
        return str(exc)

for user_id in range(1, 9):
    agent(user_id)
mlflow.flush_trace_async_logging()
"""


def _log_traces(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'traces.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", AGENT],
        env={**env, "MLFLOW_TRACKING_URI": uri},
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
    assert result.report.traces == 8 and result.report.files == ["mlflow:support-agent"]
    steps = sorted((s for t in result.traces for s in t.steps), key=lambda s: s.task)
    assert [s.action.arguments for s in steps] == [{"user_id": i} for i in range(1, 9)]
    first = steps[0]
    assert first.action.name == "get_user" and first.task == "Where does user 1 live?"
    assert json.loads(first.observation.content) == {"user_id": 1, "city": "Oslo"}
    failed = steps[2]
    assert failed.observation.is_error and failed.action.arguments == {"user_id": 3}

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "wmh"),
            "build",
            "--name",
            "from-mlflow",
            "--root",
            str(tmp_path / "store"),
            "--no-interactive",
            "-o",
            "source=mlflow",
            "-o",
            f"source.tracking_uri={uri}",
            "-o",
            "source.experiment=support-agent",
            "-o",
            "track=false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "store" / "models" / "from-mlflow" / "model.json").is_file()


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

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from wmh.pipeline.build import build_world_model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving(port: int) -> list[str]:
    """The processes whose command line names the port."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or gone
        if str(port).encode() in words:
            found.append(proc.name)
    return found


@pytest.mark.slow
def test_wmh_ui_serves_the_build_runs_with_their_metrics(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    build_world_model(make_settings(tmp_path, "seen-in-ui", [synthetic_corpus], "track=true"))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "wmh", "ui", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "200"},
        stdout=(tmp_path / "ui.out").open("wb"),
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        deadline = time.monotonic() + 90
        while True:
            try:
                found = httpx.post(
                    f"{base}/experiments/search", json={"max_results": 50}, timeout=5
                )
                if found.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the MLflow UI did not come up"
            time.sleep(1)
        names = {e["name"]: e["experiment_id"] for e in found.json()["experiments"]}
        assert "seen-in-ui" in names
        # It printed a link that opens the experiment on its runs table (MLflow 3's UI opens
        # experiments in GenAI mode unless the link names the model-training mode).
        printed = (tmp_path / "ui.out").read_text()
        link = f"/#/experiments/{names['seen-in-ui']}/runs?workflowType=machine_learning"
        assert f"seen-in-ui: http://127.0.0.1:{port}{link}" in printed
        runs = httpx.post(
            f"{base}/runs/search", json={"experiment_ids": [names["seen-in-ui"]]}, timeout=10
        ).json()
        metrics = {m["key"]: m["value"] for m in runs["runs"][0]["data"]["metrics"]}
        params = {p["key"]: p["value"] for p in runs["runs"][0]["data"]["params"]}
        assert metrics["heldout.fidelity"] > 0.5 and int(params["counts.steps_ingested"]) > 1000
        # SIGTERM to `wmh ui` alone (as a service manager sends it) stops the whole server: it
        # used to exec into `mlflow server`, which left its uvicorn serving the port.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert _serving(port) == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

"""`wmh package` builds a bento for a built model; `bentoml serve` of it answers a step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.serving.harness_client import answers_in_process, check_episode, run_episode
from tests.serving.servers import BIN, answers_ok, background, free_port

ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-canary-bento-0123456789"
pytestmark = pytest.mark.slow


def test_a_packaged_bento_serves_the_routes(built_model: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "OPENAI_API_KEY": CANARY,
    }
    done = subprocess.run(
        [str(BIN / "wmh"), "package", "--name", "records", "--root", str(built_model.parents[1])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wmh-records:" in done.stdout
    first_tag = done.stdout.split("bento ", 1)[1].split()[0]
    # Packaging again with nothing changed keeps the model and bento versions; a changed model
    # makes new ones.
    again = subprocess.run(
        done.args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.split("bento ", 1)[1].split()[0] == first_tag and "reused" in again.stdout
    bentos = tmp_path / "bentoml" / "bentos" / "wmh-records"
    models = tmp_path / "bentoml" / "models" / "wmh-records"
    versions = lambda folder: sorted(p.name for p in folder.iterdir() if p.is_dir())  # noqa: E731
    assert len(versions(bentos)) == 1 and len(versions(models)) == 1
    metrics = built_model / "metrics.json"
    original = metrics.read_bytes()
    metrics.write_bytes(original + b"\n")
    try:
        changed = subprocess.run(
            done.args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        metrics.write_bytes(original)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "reused" not in changed.stdout
    assert len(versions(bentos)) == 2 and len(versions(models)) == 2
    for path in (tmp_path / "bentoml").rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"secret in {path}"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "bentoml"), "serve", "wmh-records:latest", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    ready = answers_ok(f"{url}/world_models")
    log = tmp_path / "bento.log"
    with background(argv, ready, "bentoml serve", log, env=env, timeout=120, own_group=True):
        action = {"kind": "tool_call", "name": "get_user", "arguments": {"user_id": "u1"}}
        read = run_episode(url, [action, action])
        assert read["names"] == ["records"]
        check_episode(read, answers_in_process(built_model, [action, action]))
        with httpx.Client(base_url=url) as client:
            sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()[
                "session_id"
            ]
            step = client.post(
                f"/world_models/records/sessions/{sid}/step", json={"action": action}
            )
            assert step.status_code == 200 and step.json()["observation"]["content"]
            view = client.get(f"/world_models/records/sessions/{sid}").json()
            assert view["usage"]["steps"] == 1
            assert client.get("/world_models/nope/sessions/x").status_code == 404
    # With WMH_API_TOKEN set, the bento asks for it on every route but /healthz.
    token = "bento-token-0123456789"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv[-1] = str(port)
    guarded = {**env, "WMH_API_TOKEN": token}
    ready = answers_ok(f"{url}/healthz")
    with background(argv, ready, "bentoml serve", log, env=guarded, timeout=120, own_group=True):
        with httpx.Client(base_url=url) as client:
            assert client.get("/world_models").status_code == 401
            assert client.get("/healthz").status_code == 200
            wrong = client.get("/world_models", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = client.get("/world_models", headers={"authorization": f"Bearer {token}"})
            assert right.status_code == 200 and right.json()["world_models"] == ["records"]

"""An unexpected failure inside a step is a 500 with a JSON detail that names the error type and
nothing else (no traceback, no input), and the server goes on answering."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wmh.config.schema import ServeConfig
from wmh.serving.app import create_app
from wmh.serving.registry import load_registry


def test_an_unexpected_error_is_a_500_with_a_short_detail(
    built_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    wm = registry.models["records"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret-internal-state /etc/passwd")

    with TestClient(create_app(registry), raise_server_exceptions=False) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        monkeypatch.setattr(wm.predictor, "predict", broken)
        action = {"action": {"name": "get_user", "arguments": {"user_id": 1}}}
        answer = client.post(
            f"/world_models/records/sessions/{sid['session_id']}/step", json=action
        )
        assert answer.status_code == 500
        assert answer.json() == {"detail": "internal error (RuntimeError); see the server log"}
        monkeypatch.undo()
        again = client.post(f"/world_models/records/sessions/{sid['session_id']}/step", json=action)
        assert again.status_code == 200 and again.json()["observation"]["content"]

"""The step route is served by a plain handler (a token, when set, checked before it by
`BearerGuard`); it answers exactly as the documented FastAPI route does: same statuses, same
error locations, same observations."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from wmh.config.schema import ServeConfig
from wmh.serving.app import create_app
from wmh.serving.registry import load_registry
from wmh.serving.step import STEP_PATH

TOKEN = "t0k3n"
BODIES: list[tuple[bytes, str]] = [
    (b'{"action": {"name": "lookup_user", "arguments": {"user_id": 7}}}', "application/json"),
    (b'{"name": "lookup_user", "arguments": {"user_id": 7}}', "application/json"),
    (b'{"kind": "message", "content": "hello"}', "application/json; charset=utf-8"),
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"{not json", "application/json"),
    (b"\xff\xfe/\xff", "application/json"),
    (b'{"kind": "dance"}', "application/json"),
    (b'{"action": {"name": 5}}', "application/json"),
    (b'{"kind": "tool_call", "name": " "}', "application/json"),
    (b'{"name": "a", "arguments": [1]}', "application/json"),
    (b'{"name": "lookup_user", "arguments": {}}', "text/plain"),
    (b'{"name": "lookup_user", "arguments": {"user_id": 7}}', "application/vnd.api+json"),
    # A lone surrogate, which pydantic's JSON parser takes for no JSON: the action's 422.
    (b'{"kind": "message", "content": "\\ud800"}', "application/json"),
]


def _answers(model_root: Path, token: str | None, plain: bool = True) -> list[tuple[int, object]]:
    """Each body's answer; `plain=False`: the documented FastAPI route's (the plain handler's
    route taken out of the app)."""
    registry = load_registry(model_root, [], ServeConfig())
    name = next(iter(registry.models))
    headers = {"authorization": f"Bearer {TOKEN}"} if token else {}
    answers: list[tuple[int, object]] = []
    app = create_app(registry, token=token)
    if not plain:
        (handler,) = [r for r in app.router.routes if isinstance(r, Route) and r.path == STEP_PATH
                      and not isinstance(r, APIRoute)]  # fmt: skip
        app.router.routes.remove(handler)
    with TestClient(app, raise_server_exceptions=False) as client:
        for body, kind in BODIES:
            session = client.post(f"/world_models/{name}/sessions", json={}, headers=headers)
            path = f"/world_models/{name}/sessions/{session.json()['session_id']}/step"
            answer = client.post(path, content=body, headers={**headers, "content-type": kind})
            payload = answer.json()
            if answer.status_code == 422:  # where it failed, not pydantic's wording or type
                payload = [
                    ["body", "(JSON)"] if e["type"] == "json_invalid" else e["loc"]
                    for e in payload["detail"]
                ]
            answers.append((answer.status_code, payload))
        action = {"name": "lookup_user", "arguments": {}}
        missing = client.post(
            f"/world_models/{name}/sessions/nope/step", json=action, headers=headers
        )
        answers.append((missing.status_code, missing.json()))
    return answers


@pytest.fixture(scope="module")
def model_root(built_model: Path) -> Path:
    return built_model.parents[1]


def test_the_plain_step_handler_answers_as_the_fastapi_route(model_root: Path) -> None:
    fast, documented = _answers(model_root, None), _answers(model_root, None, plain=False)
    statuses = [status for status, _ in fast]
    # "{not json" and undecodable bytes are no JSON at all: 400, the rest 422 (an
    # application/*+json body is JSON too).
    assert statuses == [200, 200, 200, 422, 422, 400, 400] + [422] * 5 + [200, 422, 404]
    assert _answers(model_root, TOKEN) == fast  # with a token, the same handler answers
    assert fast[5][1] == {"detail": "the body is not valid JSON"}
    # (FastAPI places a JSON parse error at ("body", position), the handler at ("body",): both
    # are shown as ("body", "(JSON)").)
    assert fast == documented

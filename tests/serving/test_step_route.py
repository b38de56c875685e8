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
from wmh.serving.step import CREATE_PATH, STEP_PATH

TOKEN = "t0k3n"
BODIES: list[tuple[bytes, str]] = [
    (b'{"action": {"name": "lookup_user", "arguments": {"user_id": 7}}}', "application/json"),
    (b'{"name": "lookup_user", "arguments": {"user_id": 7}}', "application/json"),
    (b'{"kind": "message", "content": "hello"}', "application/json; charset=utf-8"),
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"{not json", "application/json"),
    (b"{\xff}", "application/json"),
    (b'{"kind": "dance"}', "application/json"),
    (b'{"action": {"name": 5}}', "application/json"),
    (b'{"kind": "tool_call", "name": " "}', "application/json"),
    (b'{"name": "a", "arguments": [1]}', "application/json"),
    (b'{"name": "lookup_user", "arguments": {}}', "text/plain"),
    (b'{"name": "lookup_user", "arguments": {"user_id": 7}}', "application/vnd.api+json"),
    # A lone surrogate, which pydantic's JSON parser takes for no JSON: the action's 422.
    (b'{"kind": "message", "content": "\\ud800"}', "application/json"),
    # A misspelt key beside the action was ignored (a 200), as it is not in a bare action.
    (b'{"action": {"name": "lookup_user", "arguments": {}}, "actoin": 1}', "application/json"),
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


def _not_json_alike(answers: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """Answers with every 400's wording left out: the plain handlers say why a body is no JSON
    (no UTF-8, a byte order mark), where FastAPI says only that it is not."""
    return [(status, "(no JSON)" if status == 400 else said) for status, said in answers]


@pytest.fixture(scope="module")
def model_root(built_model: Path) -> Path:
    return built_model.parents[1]


def test_the_plain_step_handler_answers_as_the_fastapi_route(model_root: Path) -> None:
    fast, documented = _answers(model_root, None), _answers(model_root, None, plain=False)
    statuses = [status for status, _ in fast]
    # "{not json" and undecodable bytes are no JSON at all: 400, the rest 422 (an
    # application/*+json body is JSON too).
    # A body not sent as JSON (text/plain) is a 415 that says so.
    assert statuses == [200, 200, 200, 422, 422, 400, 400] + [422] * 4 + [415, 200, 422, 422, 404]
    assert fast[-2][1] == [["body", "actoin"]]
    assert _answers(model_root, TOKEN) == fast  # with a token, the same handler answers
    assert fast[5][1] == {"detail": "the body is not valid JSON"}
    # (FastAPI places a JSON parse error at ("body", position), the handler at ("body",): both
    # are shown as ("body", "(JSON)").)
    assert _not_json_alike(fast) == _not_json_alike(documented)
    assert fast[6][1] == {
        "detail": "the body is not UTF-8 text (byte 0xff at byte 2): JSON is sent as UTF-8"
    }


CREATE_BODIES: list[tuple[bytes, str | None]] = [
    (b"", None),
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"{}", "application/json"),
    (b'{"task": "book a flight"}', "application/json; charset=utf-8"),
    (b'{"task": "t", "seed_state": {"users": {"7": {"name": "Ann"}}}}', "application/json"),
    (b'{"seed_state": {"structured": {"a": 1}, "scratchpad": "s"}}', "application/json"),
    (b'{"task": 5}', "application/json"),
    (b'{"task": "t", "sead_state": {}}', "application/json"),
    (b'{"seed_state": {"a": NaN}}', "application/json"),
    (b'{"task": "\\ud800"}', "application/json"),
    (b"{not json", "application/json"),
    (b"{\xff}", "application/json"),
    (b'{"task": "t"}', "text/plain"),
    (b'{"task": "t"}', None),
    (b'{"task": "t"}', "application/vnd.api+json"),
    # What the standard library's parser reads and pydantic's does not.
    (b'\xef\xbb\xbf{"task": "t"}', "application/json"),
    ('{"task": "t"}'.encode("utf-16"), "application/json"),
    # Large (validated in a worker thread): its errors are a small body's.
    (b'{"task": "t", "seed_state": {"a": "%s"}, "sead": 1}' % (b"x" * 70_000), "application/json"),
]


def _create_answers(model_root: Path, plain: bool) -> list[tuple[int, object]]:
    registry = load_registry(model_root, [], ServeConfig())
    name = next(iter(registry.models))
    app = create_app(registry)
    if not plain:
        (handler,) = [
            r for r in app.router.routes
            if isinstance(r, Route) and r.path == CREATE_PATH and not isinstance(r, APIRoute)
        ]  # fmt: skip
        app.router.routes.remove(handler)
    answers: list[tuple[int, object]] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for body, kind in [*CREATE_BODIES, (b"{}", "application/json")]:
            headers = {"content-type": kind} if kind else {}
            answer = client.post(f"/world_models/{name}/sessions", content=body, headers=headers)
            payload = answer.json()
            if answer.status_code == 201:  # a new id each time: its form, not its value
                payload["session_id"] = len(payload["session_id"])
            if answer.status_code == 422 and isinstance(payload["detail"], list):
                payload = [
                    ["body", "(JSON)"] if e["type"] == "json_invalid" else [e["loc"], e["msg"]]
                    for e in payload["detail"]
                ]
            answers.append((answer.status_code, payload))
        unknown = client.post("/world_models/nope/sessions", json={"task": "t"})
        answers.append((unknown.status_code, unknown.json()))
        # An unknown model with a large body that is no session: the body's 422 first.
        unknown = client.post("/world_models/nope/sessions", json={"task": ["x" * 70_000]})
        answers.append((unknown.status_code, unknown.json()["detail"][0]["loc"]))
    return answers


def test_the_plain_create_handler_answers_as_the_fastapi_route(model_root: Path) -> None:
    plain, documented = _create_answers(model_root, True), _create_answers(model_root, False)
    assert [status for status, _ in plain] == [201] * 7 + [422] * 4 + [400, 400, 415, 415] + [
        201,
        201,
        201,
        422,
        201,
        404,
        422,
    ]
    assert plain[-1][1] == ["body", "task"]
    assert plain[18][1] == [[["body", "sead"], "Extra inputs are not permitted"]]
    assert plain[13][1] == {
        "detail": "the body must be JSON, sent with content-type application/json "
        "(content-type given: 'text/plain')"
    }
    assert plain[14][1]["detail"].endswith("(content-type given: none)")
    # Bytes that are no UTF-8 are named as such, not only as no JSON.
    assert plain[12][1] == {
        "detail": "the body is not UTF-8 text (byte 0xff at byte 2): JSON is sent as UTF-8"
    }
    assert plain[5][1] == {
        "session_id": 32,
        "state": {"structured": {"users": {"7": {"name": "Ann"}}}, "scratchpad": ""},
    }
    assert _not_json_alike(plain) == _not_json_alike(documented)


def _where(model: object, method: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each call of the model's `method` ran: on the event loop or in a worker thread."""
    import asyncio

    seen: list[str] = []
    real = getattr(model, method)

    def spy(*args: object, **kwargs: object) -> object:
        try:
            asyncio.get_running_loop()
            seen.append("loop")
        except RuntimeError:
            seen.append("thread")
        return real(*args, **kwargs)

    monkeypatch.setattr(model, method, spy)
    return seen


def test_a_large_body_is_validated_and_applied_off_the_event_loop(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay model over memory sessions works on the event loop (a step is a fraction of a
    millisecond), but a body of 64 KiB or more goes to a worker thread: 1 MB of small JSON
    values took most of a second to validate and store, and four at once held every other
    request (a health check) for seconds. Its answers are those of a small body."""
    registry = load_registry(model_root, [], ServeConfig())
    name = next(iter(registry.models))
    model = registry.models[name]
    created, stepped = (
        _where(model, "new_session", monkeypatch),
        _where(model, "step_with_state", monkeypatch),
    )
    big = {f"k{i}": [[] for _ in range(8)] for i in range(4000)}  # about 100 KB
    with TestClient(create_app(registry)) as client:
        small = client.post(f"/world_models/{name}/sessions", json={"task": "t"}).json()
        large = client.post(
            f"/world_models/{name}/sessions", json={"task": "t", "seed_state": big}
        ).json()
        assert large["state"]["structured"] == big
        path = f"/world_models/{name}/sessions/{small['session_id']}/step"
        action = {"name": "get_user", "arguments": {"user_id": 7}}
        one = client.post(path, json={"action": action}).json()
        padded = {"action": {**action, "arguments": {"user_id": 7, "pad": "x" * 70_000}}}
        two = client.post(path, json=padded)
        refused = client.post(
            f"/world_models/{name}/sessions",
            json={"task": "t", "seed_state": big, "sead_state": {}},
        )
    assert created == ["loop", "thread"] and stepped == ["loop", "thread"]
    assert two.status_code == 200 and set(two.json()) == set(one) == {"observation", "state"}
    # A large body's errors are a small one's: located in the body, from the worker thread.
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "sead_state"]]


def test_a_step_of_a_session_a_worker_is_stepping_waits_in_a_thread(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a large step of a session runs in a worker thread (holding the session's lock),
    a small step of the same session waited for the lock on the event loop, holding every other
    request until the worker was done; it waits in a worker thread instead."""
    import threading

    registry = load_registry(model_root, [], ServeConfig())
    name = next(iter(registry.models))
    model = registry.models[name]
    stepped = _where(model, "step_with_state", monkeypatch)
    with TestClient(create_app(registry)) as client:
        sid = client.post(f"/world_models/{name}/sessions", json={"task": "t"}).json()
        path = f"/world_models/{name}/sessions/{sid['session_id']}/step"
        action = {"action": {"name": "get_user", "arguments": {"user_id": 7}}}
        assert client.post(path, json=action).status_code == 200
        lock = model.sessions._locks[sid["session_id"]]  # type: ignore[attr-defined]
        lock.acquire()  # as a worker stepping the session holds it
        threading.Timer(0.3, lock.release).start()
        waited = client.post(path, json=action)
    assert waited.status_code == 200
    assert stepped == ["loop", "thread"]

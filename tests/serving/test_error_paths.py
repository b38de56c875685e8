"""An unexpected failure inside a step is a 500 with a JSON detail that names the error type and
nothing else (no traceback, no input), and the server goes on answering."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wmh.config.schema import ServeConfig
from wmh.serving.app import create_app
from wmh.serving.registry import load_registry
from wmh.serving.step import STEP_PATH


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


@pytest.mark.parametrize("token", [None, "s3cret-token"])
def test_a_body_deeper_than_the_json_parser_goes_is_a_422_on_every_route(
    built_model: Path, token: str | None
) -> None:
    """FastAPI's own body parsing turned a JSON body past the parser's recursion limit into an
    unexplained 400 ('There was an error parsing the body'): creating a session, and the step
    route when a token is set (served by FastAPI, not the plain handler)."""
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    deep = b"[" * 5000 + b"]" * 5000
    with TestClient(create_app(registry, token=token)) as client:
        create = client.post(
            "/world_models/records/sessions",
            content=b'{"task": "t", "seed_state": {"structured": {"a": %s}}}' % deep,
            headers=headers,
        )
        assert create.status_code == 422
        assert create.json() == {"detail": "the body is nested more than 100 levels deep"}
        made = client.post("/world_models/records/sessions", json={"task": "t"}, headers=headers)
        sid = made.json()["session_id"]
        step = client.post(
            f"/world_models/records/sessions/{sid}/step",
            content=b'{"action": {"name": "get_user", "arguments": {"user_id": %s}}}' % deep,
            headers=headers,
        )
        assert step.status_code == 422
        assert step.json() == {"detail": "the body is nested more than 100 levels deep"}
        assert (
            client.get(f"/world_models/records/sessions/{sid}", headers=headers).json()["history"]
            == []
        )
        # A body that is not JSON at all is still the plain 400.
        broken = client.post("/world_models/records/sessions", content=b"{", headers=headers)
        assert broken.status_code == 400
        assert broken.json() == {"detail": "the body is not valid JSON"}


def test_serving_every_model_leaves_out_a_copy_with_a_warning_and_serves_an_alias_once(
    built_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy of another model in the store kept the whole store from being served (its name
    check failed the start), though `wmh list` only skips it; a link to a model's folder is
    that model."""
    import shutil

    from wmh.serving.registry import check_models

    models = tmp_path / "models"
    shutil.copytree(built_model, models / "records")
    shutil.copytree(built_model, models / "copy")
    (models / "latest").symlink_to(models / "records")
    with caplog.at_level("WARNING", logger="wmh.serving.registry"):
        assert check_models(tmp_path, [], ServeConfig()) == ["records"]
        registry = load_registry(tmp_path, [], ServeConfig())
    assert list(registry.models) == ["records"]
    assert f"not served: {models / 'copy'} holds the model built as 'records'" in caplog.text
    assert check_models(tmp_path, ["latest"], ServeConfig()) == ["latest"]


def test_a_reward_judge_runs_off_the_event_loop_for_a_model_stepped_on_it(
    built_model: Path,
) -> None:
    """Replay over in-memory sessions steps on the event loop, but a reward judge may wait on an
    LLM for seconds: scoring runs in a worker thread, so the loop goes on serving meanwhile."""
    import asyncio
    from collections.abc import Sequence

    from wmh.core.reward import RewardVerdict
    from wmh.core.types import Turn

    class LoopSpy:
        name = "loop-spy"
        on_loop: list[bool] = []

        def judge(self, task: str, turns: Sequence[Turn]) -> RewardVerdict:
            try:
                asyncio.get_running_loop()
                self.on_loop.append(True)
            except RuntimeError:
                self.on_loop.append(False)
            return RewardVerdict(episode=1.0, steps=[1.0] * len(turns), critique="spied")

    spy = LoopSpy()
    registry = load_registry(built_model.parents[1], [], ServeConfig(), spy)
    assert registry.inline["records"]  # the model itself steps on the loop
    with TestClient(create_app(registry)) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        base = f"/world_models/records/sessions/{sid['session_id']}"
        action = {"action": {"name": "get_user", "arguments": {"user_id": 1}}}
        assert client.post(f"{base}/step", json=action).status_code == 200
        score = client.post(f"{base}/score")
    assert score.status_code == 200 and score.json()["critique"] == "spied"
    assert spy.on_loop == [False]


@pytest.mark.parametrize("token", [None, "s3cret-token"])
def test_a_number_too_long_to_read_is_a_422_on_every_route(
    built_model: Path, token: str | None
) -> None:
    """An integer of more than 4,300 digits is JSON, but no number Python reads: the step route
    called the body 'not valid JSON' (400) and creating a session 'There was an error parsing
    the body' (400)."""
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    big = b"7" * 5000
    said = {"detail": "the body holds a number of more than 4300 digits"}
    with TestClient(create_app(registry, token=token)) as client:
        create = client.post(
            "/world_models/records/sessions",
            content=b'{"task": "t", "seed_state": {"structured": {"a": %s}}}' % big,
            headers=headers,
        )
        assert (create.status_code, create.json()) == (422, said)
        sid = client.post("/world_models/records/sessions", json={"task": "t"}, headers=headers)
        step = client.post(
            f"/world_models/records/sessions/{sid.json()['session_id']}/step",
            content=b'{"action": {"name": "get_user", "arguments": {"user_id": %s}}}' % big,
            headers=headers,
        )
        assert (step.status_code, step.json()) == (422, said)


def test_the_openapi_schema_declares_the_422s_the_routes_answer(built_model: Path) -> None:
    """A 422 is a field-by-field list, or one message (a number not finite or too long, a body
    too deep): the schema declared only the list, so clients generated from it failed to read
    the message."""
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry)) as client:
        spec = client.get("/openapi.json").json()
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        nan = b'{"action": {"name": "get_user", "arguments": {"user_id": NaN}}}'
        answer = client.post(
            f"/world_models/records/sessions/{sid['session_id']}/step",
            content=nan,
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 422 and isinstance(answer.json()["detail"], str)
    for path in ("/world_models/{name}/sessions", STEP_PATH):
        schema = spec["paths"][path]["post"]["responses"]["422"]["content"]["application/json"]
        kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["schema"]["anyOf"]}
        assert kinds == {"Problem", "ValidationProblem"}
    assert spec["components"]["schemas"]["Problem"]["properties"]["detail"]["type"] == "string"


def test_failed_calls_in_worker_threads_leave_no_place_taken(built_model: Path) -> None:
    """A scoring call that fails (an unknown session, no judge) gives its place back: counted
    against serve.threads + serve.max_waiting and never freed, a few failures made the server
    answer every later scoring call 503 busy."""
    from wmh.core.reward import RewardVerdict

    class Fine:
        name = "fine"

        def judge(self, task: str, turns: list) -> RewardVerdict:
            return RewardVerdict(episode=1.0, critique="fine")

    serve = ServeConfig(threads=1, max_waiting=1)
    registry = load_registry(built_model.parents[1], [], serve, Fine())
    with TestClient(create_app(registry)) as client:
        for _ in range(3):
            gone = client.post("/world_models/records/sessions/nope/score")
            assert gone.status_code == 404 and "no session 'nope'" in gone.json()["detail"]
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        score = client.post(f"/world_models/records/sessions/{sid['session_id']}/score")
        assert score.status_code == 200 and score.json()["critique"] == "fine"
    assert registry.blocking_now == 0


def test_an_unknown_model_is_a_404_that_names_the_models_served(built_model: Path) -> None:
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry)) as client:
        for method, path, body in (
            ("GET", "/world_models/nope", None),
            ("POST", "/world_models/nope/sessions", {"task": "t"}),
            ("POST", "/world_models/nope/sessions/abc/step", {"name": "get_user"}),
        ):
            answer = client.request(method, path, json=body)
            assert answer.status_code == 404, path
            assert answer.json() == {
                "detail": "no world model 'nope' is served here (served: records)"
            }
            assert answer.headers["x-wmh-not-found"] == "model"


def test_the_model_list_and_detail_show_the_cards_figures(built_model: Path) -> None:
    from wmh.store.card import read_card

    card = read_card(built_model)
    assert card.heldout_score is not None
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry)) as client:
        (listed,) = client.get("/world_models").json()["models"]
        detail = client.get("/world_models/records").json()
    for info in (listed, detail):
        shown = (info["provider"], info["predictor"], info["steps"], info["heldout_score"])
        assert shown == (card.provider, card.predictor, card.steps, card.heldout_score)


def test_a_long_refused_value_is_shown_cut_to_its_first_characters(built_model: Path) -> None:
    """A 422 shows what it refused, but no more than SHOWN_INPUT characters of a long text: a
    large refused value is not echoed back in full."""
    from wmh.serving.problems import SHOWN_INPUT

    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry)) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        step = client.post(
            f"/world_models/records/sessions/{sid['session_id']}/step",
            json={"kind": "x" * 5000, "name": "get_user"},
        )
        create = client.post("/world_models/records/sessions", json={"task": "t", "y": "y" * 5000})
    assert step.status_code == create.status_code == 422
    (kind,) = [e for e in step.json()["detail"] if e["loc"][-1] == "kind"]
    assert kind["input"] == "x" * SHOWN_INPUT
    assert create.json()["detail"][0]["input"] == "y" * SHOWN_INPUT


@pytest.mark.parametrize("busy", [False, True])
def test_a_503_asks_the_client_to_retry_after_a_second_and_other_errors_do_not(
    built_model: Path, monkeypatch: pytest.MonkeyPatch, busy: bool
) -> None:
    """A store that is briefly away, or a busy server, is a 503 with Retry-After: 1 (a busy
    server's also says nothing was applied); a 404 carries neither header."""
    from wmh.errors import NOT_APPLIED_HEADER, ServerBusyError, StoreError

    registry = load_registry(built_model.parents[1], [], ServeConfig())
    wm = registry.models["records"]
    error = ServerBusyError("the server is busy") if busy else StoreError("store away")

    def failing(*args: object, **kwargs: object) -> None:
        raise error

    with TestClient(create_app(registry)) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        step = f"/world_models/records/sessions/{sid['session_id']}/step"
        monkeypatch.setattr(wm.predictor, "predict", failing)
        action = {"action": {"name": "get_user", "arguments": {"user_id": 1}}}
        answer = client.post(step, json=action)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.headers.get(NOT_APPLIED_HEADER) == ("1" if busy else None)
        missing = client.post("/world_models/records/sessions/nope/step", json=action)
        assert missing.status_code == 404
        assert "retry-after" not in missing.headers
        assert NOT_APPLIED_HEADER not in missing.headers


def test_errors_name_what_to_fix_once(built_model: Path) -> None:
    """A bad step body got an error for each form of the union (a bare action also got "Field
    required" for `action`, a wrapped one "Extra inputs are not permitted"), located under
    pydantic's internal tags; a surrogate in the scratchpad a raw UnicodeEncodeError; a long
    session id came back whole."""
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry), raise_server_exceptions=False) as client:
        base = "/world_models/records/sessions"
        sid = client.post(base, json={"task": "t"}).json()["session_id"]
        step = f"{base}/{sid}/step"
        wrapped = client.post(step, json={"action": {"name": "get_user", "arguments": 5}})
        bare = client.post(step, json={"name": "get_user", "arguments": 5})
        neither = client.post(step, json=[1])
        scratch = client.post(
            base,
            content=b'{"seed_state": {"structured": {}, "scratchpad": "ab\\ud800"}}',
            headers={"content-type": "application/json"},
        )
        bom = client.post(
            base, content=b'\xef\xbb\xbf{"task": "t"}', headers={"content-type": "application/json"}
        )
        long_id = client.get(f"{base}/{'x' * 5000}")
    shown = [[(e["loc"], e["msg"]) for e in answer.json()["detail"]] for answer in (wrapped, bare)]
    assert shown == [
        [(["body", "action", "arguments"], "Input should be an object")],
        [(["body", "arguments"], "Input should be an object")],
    ]
    assert [e["loc"] for e in neither.json()["detail"]] == [["body"]]
    assert scratch.status_code == 422
    assert [e["msg"] for e in scratch.json()["detail"]] == [
        "seed_state.scratchpad is not valid Unicode (a lone surrogate at character 2)"
    ]
    # A byte order mark is read past, as FastAPI's parser reads it.
    assert bom.status_code == 201 and len(bom.json()["session_id"]) == 32
    assert long_id.status_code == 404
    assert long_id.json() == {"detail": f"no session '{'x' * 64}…' (5000 characters)"}

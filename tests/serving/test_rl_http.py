"""The RL seam over HTTP: the leading harness's shapes, scored sessions and usage that survive a
worker switch, and `wmh.WorldModelClient` (sync and async) against a real `wmh serve`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM
from tests.serving.harness_client import answers_in_process, check_episode, run_episode
from tests.serving.servers import Redis, Server, free_port
from wmh import Action, AsyncWorldModelClient, WorldModelClient
from wmh.client import RemoteError
from wmh.errors import InputError, ModelNotFoundError, SessionNotFoundError
from wmh.pipeline.build import build_world_model
from wmh.store.loader import load_world_model

CANARY = "sk-canary-8d2e4b19"
# The environment's own success check, as an example's env.py supplies one (`reward=success`).
ENV_PY = """
from wmh.core.reward import RewardVerdict


class NoErrors:
    name = "success"

    def judge(self, task, turns):
        steps = [0.0 if t.observation.is_error else 1.0 for t in turns]
        return RewardVerdict(sum(steps) / max(len(steps), 1), steps, "checked", all(steps))


def make_success_check():
    return NoErrors()
"""


def lookup(user: object) -> dict:
    return {"kind": "tool_call", "name": "get_user", "arguments": {"user_id": user}}


@pytest.fixture(scope="module")
def scored_root(built_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store root laid out like an example: the built models, and an env.py with its check."""
    root = tmp_path_factory.mktemp("scored")
    (root / "models").symlink_to(built_model.parent, target_is_directory=True)
    (root / "env.py").write_text(ENV_PY)
    return root


@pytest.fixture(scope="module")
def scored_server(scored_root: Path) -> Iterator[Server]:
    running = Server(scored_root, "-o", "reward=success")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def scored_two_workers(scored_root: Path) -> Iterator[Server]:
    redis = Redis()
    running = Server(
        scored_root, "--workers", "2", "--session-store", "redis", "--redis-url", redis.url,
        "-o", "reward=success",
    )  # fmt: skip
    yield running
    running.stop()
    redis.stop()


def test_a_harness_client_runs_an_episode_against_wmh_serve(
    scored_server: Server, built_model: Path
) -> None:
    actions = [lookup(1), lookup(2), lookup(1)]
    check_episode(run_episode(scored_server.url, actions), answers_in_process(built_model, actions))


def _fresh(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on its own connection, so consecutive ones may reach different workers."""
    with httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=30) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_scores_and_usage_survive_a_worker_switch_on_redis(
    scored_two_workers: Server, built_model: Path
) -> None:
    url = scored_two_workers.url
    pids = {_fresh(url, "GET", "/healthz").json()["pid"] for _ in range(60)}
    assert len(pids) == 2, "both workers must answer"
    actions = [lookup(1), lookup(2)]
    check_episode(run_episode(url, actions), answers_in_process(built_model, actions))

    base = "/world_models/records/sessions"
    sid = _fresh(url, "POST", base, json={"task": "find users"}).json()["session_id"]
    unknown = {"kind": "tool_call", "name": "no_such_tool", "arguments": {}}
    steps, served = [lookup(1), unknown, lookup(2)], set()
    for action in steps:
        answer = _fresh(url, "POST", f"{base}/{sid}/step", json={"action": action})
        assert answer.status_code == 200, answer.text
    score = _fresh(url, "POST", f"{base}/{sid}/score").json()
    assert score["step_rewards"] == [1.0, 0.0, 1.0] and score["success"] is False
    # Read until both workers have answered (at least 12 rounds; which worker takes a new
    # connection is the kernel's choice, and under load one may take a dozen in a row).
    for attempt in range(60):
        if attempt >= 12 and served == pids:
            break
        seen = _fresh(url, "GET", f"{base}/{sid}")
        usage = _fresh(url, "GET", f"{base}/{sid}/usage").json()
        served.add(_fresh(url, "GET", "/healthz").json()["pid"])
        assert seen.json()["score"] == score and seen.json()["history"][-1]["observation"][
            "reward"
        ] == pytest.approx(2 / 3)
        assert usage["steps"] == 3 and usage["by_phase"]["judge"]["calls"] == 0
    final = _fresh(url, "DELETE", f"{base}/{sid}").json()
    assert final["steps"] == 3 and served == pids


def test_the_python_client_answers_like_the_model_in_process(
    scored_server: Server, built_model: Path
) -> None:
    seed = {"users": [{"user_id": 3, "name": "Ada", "city": "Oslo"}]}
    local, _ = load_world_model(built_model)
    here = local.new_session("find user 3", seed_state=seed)
    with WorldModelClient(scored_server.url, "records") as wm:
        assert wm.world_models() == ["records"]
        session = wm.new_session("find user 3", seed_state=seed)
        assert session.state.structured == seed
        for user in (3, 4):
            action = Action(name="get_user", arguments={"user_id": user})
            assert wm.step(session.id, action) == local.step(here.id, action)
        assert json.loads(wm.session(session.id).history[0].observation.content)["city"] == "Oslo"
        # NaN has no JSON form: sent, it would arrive as null. The client refuses it as the
        # model in process does, and the session is unchanged.
        nan = Action(name="get_user", arguments={"user_id": float("nan")})
        for world_model, sid in ((wm, session.id), (local, here.id)):
            with pytest.raises(InputError, match="the arguments of get_user: holds nan"):
                world_model.step(sid, nan)
        with pytest.raises(InputError, match="the seed state: holds inf"):
            wm.new_session("t", seed_state={"users": [{"balance": float("inf")}]})
        assert wm.session_usage(session.id).steps == 2
        # A session read back holds its usage by phase, as in process (it came back empty).
        assert wm.session(session.id).usage["serve"] == local.session(here.id).usage["serve"]
        score = wm.score_session(session.id)
        assert score.reward == 1.0 and score.success and score.critique == "checked"
        assert wm.end_session(session.id).steps == 2
        with pytest.raises(SessionNotFoundError, match="no session"):
            wm.step(session.id, Action(name="get_user", arguments={"user_id": 1}))
        with pytest.raises(RemoteError) as unknown:
            WorldModelClient(scored_server.url, "nope").new_session("t")
        assert unknown.value.status == 404 and "no world model 'nope'" in unknown.value.detail
        # On a session's route too, a wrong model name is the model's error, not the session's.
        with pytest.raises(ModelNotFoundError, match="no world model 'nope'"):
            WorldModelClient(scored_server.url, "nope").step("abc", {"name": "get_user"})
        # Session ids are escaped (`..` named the model's own route, `a?b=1` session `a`).
        with pytest.raises(InputError, match="not a session id: '..'"):
            wm.session("..")
        # An escaped / is decoded before the server routes: it named the session's usage.
        with pytest.raises(InputError, match=f"not a session id: '{session.id}/usage'"):
            wm.session(f"{session.id}/usage")
        with pytest.raises(SessionNotFoundError, match=r"no session 'a\?b=1'"):
            wm.session("a?b=1")
        with pytest.raises(InputError, match="not an action"):
            wm.step("abc", {"foo": 1})  # type: ignore[arg-type]


def test_the_async_client_runs_many_sessions_at_once(scored_server: Server) -> None:
    async def one(client: AsyncWorldModelClient, user: int) -> tuple[int, float]:
        session = await client.new_session(f"find user {user}")
        for _ in range(user % 3 + 1):
            await client.step(session.id, Action(name="get_user", arguments={"user_id": user}))
        score = await client.score_session(session.id)
        return (await client.end_session(session.id)).steps, score.reward

    async def run() -> list[tuple[int, float]]:
        async with AsyncWorldModelClient(scored_server.url, "records") as client:
            return await asyncio.gather(*(one(client, u) for u in range(1, 13)))

    results = asyncio.run(run())
    assert [steps for steps, _ in results] == [u % 3 + 1 for u in range(1, 13)]
    assert all(reward == 1.0 for _, reward in results)


class _Busy(BaseHTTPRequestHandler):
    """Answers 503 to the first `busy` requests, then the world model list."""

    busy = 2
    seen = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen += 1
        if type(self).seen <= type(self).busy:
            body, status = b'{"detail": "busy"}', 503
        else:
            body, status = b'{"world_models": ["x"], "models": []}', 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_client_retries_a_busy_server_then_gives_up() -> None:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with WorldModelClient(f"http://127.0.0.1:{port}", "x", retries=3) as client:
            assert client.world_models() == ["x"] and _Busy.seen == 3
            _Busy.seen, _Busy.busy = 0, 10
            with pytest.raises(Exception, match="busy"):
                client.world_models()
            assert _Busy.seen == 3  # three attempts, then the 503 itself
    finally:
        server.shutdown()


def test_session_usage_adds_up_to_the_providers_own_count(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    from tests.engine.test_llm import llm_overrides
    from tests.fake_llm import echo_environment

    fake_llm.default = echo_environment
    build_world_model(make_settings(tmp_path, "llm", [synthetic_corpus], *llm_overrides(fake_llm)))
    server = Server(tmp_path, env={"OPENAI_API_KEY": CANARY})
    try:
        before = len(fake_llm.requests)
        totals = []
        for session in range(3):
            with httpx.Client(base_url=server.url, timeout=60) as client:
                sid = client.post("/world_models/llm/sessions", json={"task": "t"}).json()[
                    "session_id"
                ]
                for step in range(session + 1):  # arguments never recorded: the LLM answers
                    client.post(
                        f"/world_models/llm/sessions/{sid}/step",
                        json={"action": lookup(10**6 + 10 * session + step)},
                    ).raise_for_status()
                final = client.delete(f"/world_models/llm/sessions/{sid}")
                assert CANARY not in final.text
                totals.append(final.json()["by_phase"]["serve"])
        calls = len(fake_llm.requests) - before
        assert calls == 6 and sum(t["calls"] for t in totals) == calls
        assert sum(t["input_tokens"] for t in totals) == 11 * calls  # the scripted server's
        assert sum(t["output_tokens"] for t in totals) == 7 * calls
    finally:
        server.stop()

"""One request cannot stall the server, a session cannot grow without bound, Redis going away is
a 503 with recovery, and a killed worker's session lock frees itself."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fake_llm import FakeLLM
from tests.serving.servers import Redis, Server
from wmh.config.schema import ServeConfig
from wmh.core.types import MAX_JSON_DEPTH, Action, Observation, Turn
from wmh.errors import NOT_APPLIED_HEADER, ConfigError
from wmh.serving.app import create_app
from wmh.serving.limits import json_items
from wmh.serving.redis_store import RedisSessionStore
from wmh.serving.registry import Registry, load_registry


def lookup(user: object) -> dict:
    return {"kind": "tool_call", "name": "get_user", "arguments": {"user_id": user}}


@pytest.fixture(scope="module")
def capped(built_model: Path) -> Iterator[Server]:
    running = Server(
        built_model.parent.parent,
        "-o", "serve.max_session_steps=3", "-o", "serve.max_session_bytes=200000",
    )  # fmt: skip
    yield running
    running.stop()


def test_a_huge_body_is_refused_while_the_server_keeps_answering(capped: Server) -> None:
    answered: list[int] = []
    finished = threading.Event()

    def slow_upload() -> Iterator[bytes]:
        for _ in range(160):  # 10 MB in 64 KB chunks, with no Content-Length
            if finished.is_set():
                return
            time.sleep(0.005)
            yield b"[" + b"1," * 32767 + b"1]"

    def health_during_upload() -> None:
        time.sleep(0.05)
        answered.append(httpx.get(f"{capped.url}/healthz", timeout=30).status_code)

    checker = threading.Thread(target=health_during_upload)
    checker.start()
    refused = httpx.post(
        f"{capped.url}/world_models/records/sessions/x/step",
        content=slow_upload(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    finished.set()
    checker.join()
    assert answered == [200]  # /healthz answered while the upload was under way
    assert refused.status_code == 413 and "serve.max_body_bytes" in refused.json()["detail"]
    sized = httpx.post(
        f"{capped.url}/world_models/records/sessions/x/step",
        content=b"[" + b"1," * (6 * 2**20) + b"1]",
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert sized.status_code == 413 and len(sized.content) < 200
    # A route FastAPI reads the body for (it answered any error while reading as a 400).
    chunked = httpx.post(
        f"{capped.url}/world_models/records/sessions",
        content=(b" " * 2**20 for _ in range(12)),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert chunked.status_code == 413 and "serve.max_body_bytes" in chunked.json()["detail"]


JSON = {"content-type": "application/json"}


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(built_model: Path) -> None:
    """`serve.max_body_bytes` is the most a body may hold: one of exactly that size was refused
    (413), whether its size was declared (Content-Length) or it came in chunks."""
    body = b'{"action": {"name": "get_user", "arguments": {"user_id": 1}}}'
    limit = len(body) + 40
    registry = load_registry(built_model.parents[1], [], ServeConfig(max_body_bytes=limit))
    with TestClient(create_app(registry)) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()["session_id"]
        step = f"/world_models/records/sessions/{sid}/step"
        for size, status in ((limit, 200), (limit + 1, 413)):
            padded = body + b" " * (size - len(body))
            declared = client.post(step, content=padded, headers=JSON)
            chunked = client.post(step, content=iter([padded[:30], padded[30:]]), headers=JSON)
            assert (declared.status_code, chunked.status_code) == (status, status), size
        assert len(client.get(f"/world_models/records/sessions/{sid}").json()["history"]) == 2


def _items(value: object) -> int:
    """Array elements and object members, each empty array or object counted as one."""
    if isinstance(value, list | dict):
        inner = value.values() if isinstance(value, dict) else value
        return (len(value) or 1) + sum(map(_items, inner))
    return 0


def test_json_items_counts_elements_and_members_outside_strings() -> None:
    """Commas, brackets, braces and escaped quotes inside strings are text: a miscount would
    refuse a long CSV argument, or let a body of tiny values through."""
    rng = random.Random(7)
    texts = ["a,b[c{", 'q\\"x,', "\\", 'z\\\\"', "é,ü", '\\\\\\",[', '"', "\u2c2c,{"]

    def value(depth: int) -> object:
        roll = rng.random()
        if depth > 4 or roll < 0.4:
            return rng.choice([1, None, *texts])
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"k{i},[\\": value(depth + 1) for i in range(rng.randint(0, 4))}

    for _ in range(400):
        given = {"a": value(0)}
        for text in (json.dumps(given), json.dumps(given, ensure_ascii=False, indent=1)):
            for encoding in ("utf-8", "utf-16", "utf-32-le"):
                assert json_items(text.encode(encoding)) == _items(given), (text, encoding)


@pytest.mark.parametrize("size", ["small", "large"])  # large: validated in a worker thread
def test_a_body_of_more_json_items_than_the_limit_is_refused_before_it_is_parsed(
    built_model: Path, size: str
) -> None:
    """A body within `serve.max_body_bytes` may hold a third of a million tiny values, whose
    parsing holds every other request: past `serve.max_body_items` it is a 413; a body of that
    many items, or of long text full of commas, is taken."""
    limit = 30_000 if size == "large" else 100  # large: past INLINE_BODY_BYTES
    registry = load_registry(built_model.parents[1], [], ServeConfig(max_body_items=limit))
    base = "/world_models/records/sessions"
    # Besides the list's n: the creation's task, seed_state and records (3); the step's action,
    # name, arguments and user_id (4).
    seeded = lambda n: {"task": "t", "seed_state": {"records": [0] * n}}  # noqa: E731
    step = lambda n: {"action": {"name": "get_user", "arguments": {"user_id": [0] * n}}}  # noqa: E731
    with TestClient(create_app(registry)) as client:
        assert client.post(base, json=seeded(limit - 3)).status_code == 201
        refused = client.post(base, json=seeded(limit - 2))
        assert refused.status_code == 413, refused.text
        assert f"more than {limit} JSON items" in refused.json()["detail"]
        assert "serve.max_body_items" in refused.json()["detail"]
        sid = client.post(base, json={"task": "t"}).json()["session_id"]
        assert client.post(f"{base}/{sid}/step", json=step(limit - 4)).status_code == 200
        assert client.post(f"{base}/{sid}/step", json=step(limit - 3)).status_code == 413
        text = {"action": {"name": "get_user", "arguments": {"user_id": '[1,"2",{}],' * limit}}}
        assert client.post(f"{base}/{sid}/step", json=text).status_code == 200
        assert len(client.get(f"{base}/{sid}").json()["history"]) == 2


def test_a_refused_body_is_never_echoed_back(capped: Server) -> None:
    with httpx.Client(base_url=capped.url, timeout=30) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()["session_id"]
        big = client.post(
            f"/world_models/records/sessions/{sid}/step", json={"action": list(range(90_000))}
        )  # (within serve.max_body_items: validated, and refused as no action)
    assert big.status_code == 422 and len(big.content) < 8_000
    assert all(len(str(e["input"])) < 200 for e in big.json()["detail"])


def test_a_session_stops_growing_at_its_caps(capped: Server) -> None:
    with httpx.Client(base_url=capped.url, timeout=30) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()["session_id"]
        for user in (1, 2, 3):
            assert (
                client.post(
                    f"/world_models/records/sessions/{sid}/step", json={"action": lookup(user)}
                ).status_code
                == 200
            )
        full = client.post(f"/world_models/records/sessions/{sid}/step", json={"action": lookup(4)})
        assert full.status_code == 413 and "serve.max_session_steps=3" in full.json()["detail"]
        assert len(client.get(f"/world_models/records/sessions/{sid}").json()["history"]) == 3

        other = client.post("/world_models/records/sessions", json={"task": "t"}).json()[
            "session_id"
        ]
        heavy = {"kind": "tool_call", "name": "get_user", "arguments": {"user_id": "x" * 150_000}}
        first = client.post(f"/world_models/records/sessions/{other}/step", json={"action": heavy})
        again = client.post(f"/world_models/records/sessions/{other}/step", json={"action": heavy})
        assert first.status_code == 200
        assert again.status_code == 413 and "serve.max_session_bytes" in again.json()["detail"]


def test_redis_going_away_is_a_503_and_the_session_comes_back_whole(built_model: Path) -> None:
    redis = Redis()
    server = Server(built_model.parent.parent, "--session-store", "redis", "--redis-url", redis.url)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()[
                "session_id"
            ]
            step = f"/world_models/records/sessions/{sid}/step"
            assert client.post(step, json={"action": lookup(1)}).status_code == 200
            os.kill(redis.proc.pid, signal.SIGSTOP)  # Redis stops answering
            try:
                down = client.post(step, json={"action": lookup(2)})
                assert down.status_code == 503 and down.headers["retry-after"] == "1"
                assert "session store is unavailable" in down.json()["detail"]
                assert client.get("/healthz").status_code == 200  # same connection, still up
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)
            assert client.post(step, json={"action": lookup(3)}).status_code == 200
            history = client.get(f"/world_models/records/sessions/{sid}").json()["history"]
            assert [t["action"]["arguments"]["user_id"] for t in history] == [1, 3]
    finally:
        server.stop()
        redis.stop()


HOLD_LOCK = """
import sys, time
from wmh.serving.redis_store import RedisSessionStore
store = RedisSessionStore(sys.argv[1], "locks")
with store.locked(sys.argv[2]):
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_killed_workers_session_lock_frees_itself_within_seconds() -> None:
    redis = Redis()
    try:
        store = RedisSessionStore(redis.url, "locks", lock_timeout_s=20)
        session = store.create("t")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, redis.url, session.id],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        time.sleep(8)  # past the lock's 6 s TTL: renewed while its holder lives
        assert not store.client.lock(f"wmh:locks:lock:{session.id}").acquire(blocking=False)
        holder.kill()
        holder.wait()
        with store.locked(session.id) as current:  # would wait 120 s on a lock with no TTL
            current.history.append(
                Turn(action=Action(name="a"), observation=Observation(content="after"))
            )
            store.save(current)
        assert [t.observation.content for t in store.get(session.id).history] == ["after"]
    finally:
        redis.stop()


def test_a_lone_surrogate_is_refused_not_stored(capped: Server) -> None:
    with httpx.Client(base_url=capped.url, timeout=30) as client:
        body = b'{"task": "cancel \\ud800 now"}'
        created = client.post(
            "/world_models/records/sessions",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert created.status_code == 422 and "lone surrogate" in created.text
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()["session_id"]
        step = client.post(
            f"/world_models/records/sessions/{sid}/step",
            content=b'{"action": {"name": "get_user", "arguments": {"user_id": "\\udfff"}}}',
            headers={"content-type": "application/json"},
        )
        assert step.status_code == 422
        # What holds it is named (the position was counted in the action's internal key).
        assert step.json()["detail"][0]["msg"] == (
            "the arguments of get_user: holds text that is not valid Unicode (a lone "
            "surrogate): '\\udfff'"
        )
        # A high surrogate, which pydantic's JSON parser refuses as no JSON at all: the same
        # answer as the documented route's (with a token) gives, not a 400.
        step = client.post(
            f"/world_models/records/sessions/{sid}/step",
            content=b'{"action": {"kind": "message", "content": "\\ud800"}}',
            headers={"content-type": "application/json"},
        )
        assert step.status_code == 422
        assert step.json()["detail"][0]["msg"] == (
            "the message is not valid Unicode (a lone surrogate at character 0)"
        )
        assert client.get(f"/world_models/records/sessions/{sid}").json()["history"] == []
        # In a seed state's key, where writing it as JSON replaced it with U+FFFD: stored, it
        # would not be what was sent.
        created = client.post(
            "/world_models/records/sessions",
            content=b'{"seed_state": {"structured": {"users": {"\\ud800": 1}}}}',
            headers={"content-type": "application/json"},
        )
        assert created.status_code == 422
        assert "has a key that is not valid Unicode (a lone surrogate)" in created.text


def nested(levels: int) -> dict:
    """Records nested `levels` deep, counting the records object itself."""
    value: object = "leaf"
    for _ in range(levels - 1):
        value = [value]
    return {"users": value}


def test_values_too_deep_or_not_finite_are_422_and_a_redis_session_stays_readable(
    built_model: Path,
) -> None:
    """JSON parsers stop at about 200 levels: a Redis session holding a seed state or an
    argument near that could be written but never read again (every GET and step a 500)."""
    redis = Redis()
    token = "hardening-token"
    server = Server(
        built_model.parent.parent, "--session-store", "redis", "--redis-url", redis.url,
        env={**os.environ, "WMH_API_TOKEN": token},
    )  # fmt: skip
    auth = {"authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=auth) as client:
            base = "/world_models/records/sessions"
            deepest = nested(MAX_JSON_DEPTH)
            made = client.post(base, json={"task": "t", "seed_state": deepest})
            assert made.status_code == 201
            sid = made.json()["session_id"]
            # The records alone are the structured state, as in WorldModel.new_session.
            assert client.get(f"{base}/{sid}").json()["state"]["structured"] == deepest
            too_deep = client.post(base, json={"task": "t", "seed_state": nested(200)})
            assert too_deep.status_code == 422
            assert "seed_state: nested more than 100 levels deep" in too_deep.text
            misspelt = client.post(base, json={"task": "t", "sede_state": {"users": {}}})
            assert misspelt.status_code == 422 and "sede_state" in misspelt.text
            step = f"{base}/{sid}/step"
            kept = client.post(step, json={"action": lookup(nested(MAX_JSON_DEPTH - 1))})
            assert kept.status_code == 200
            refused = client.post(step, json={"action": lookup(nested(MAX_JSON_DEPTH))})
            assert refused.status_code == 422
            assert refused.json()["detail"] == (
                "the arguments of get_user: nested more than 100 levels deep"
            )
            not_finite = client.post(
                step,
                content=b'{"action": {"name": "get_user", "arguments": {"user_id": NaN}}}',
                headers={"content-type": "application/json"},
            )
            assert not_finite.status_code == 422
            assert not_finite.json()["detail"] == (
                "the arguments of get_user: holds nan, a number that is not finite"
            )
            history = client.get(f"{base}/{sid}").json()["history"]
            assert [t["action"]["arguments"]["user_id"] for t in history] == [
                nested(MAX_JSON_DEPTH - 1)
            ]
    finally:
        server.stop()
        redis.stop()


def test_a_body_deeper_than_the_parser_goes_is_a_422(capped: Server) -> None:
    with httpx.Client(base_url=capped.url, timeout=30) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()["session_id"]

        def step_nested(levels: int) -> httpx.Response:
            deep = "[" * levels + "]" * levels
            return client.post(
                f"/world_models/records/sessions/{sid}/step",
                content=b'{"action": {"name": "get_user", "arguments": {"user_id": %s}}}'
                % deep.encode(),
                headers={"content-type": "application/json"},
            )

        # Past pydantic's parser (200 levels), read as FastAPI reads it: what is too deep is named.
        step = step_nested(300)
        assert step.status_code == 422
        assert step.json() == {
            "detail": "the arguments of get_user: nested more than 100 levels deep"
        }
        step = step_nested(5000)  # past every parser: the body is
        assert step.status_code == 422
        assert step.json() == {"detail": "the body is nested more than 100 levels deep"}
        assert client.get(f"/world_models/records/sessions/{sid}").json()["history"] == []


def test_an_empty_token_is_refused_rather_than_turning_auth_off(built_model: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "serve", "--root",
         str(built_model.parent.parent), "--port", "1"],
        env={**os.environ, "WMH_API_TOKEN": ""}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "WMH_API_TOKEN is set but empty" in done.stderr + done.stdout


def test_a_token_of_only_spaces_is_refused_as_an_empty_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token of blanks is no secret (an editor's stray space): it was taken as the token."""
    with pytest.raises(ConfigError, match="set but empty"):
        create_app(Registry(), token="  \t")
    monkeypatch.setenv("WMH_API_TOKEN", " ")
    with pytest.raises(ConfigError, match="WMH_API_TOKEN is set but empty"):
        create_app(Registry())


@contextmanager
def slow_llm_server(
    tmp_path: Path,
    corpus: Path,
    delay_s: float,
    threads: int,
    waiting: int,
    sessions: int,
    *serve_args: str,
) -> Iterator[tuple[Server, FakeLLM, list[str]]]:
    """An LLM model served with `threads` and `waiting` (and `serve_args`), its provider
    answering after `delay_s`, and `sessions` fresh sessions on it."""
    import dataclasses

    from tests.conftest import make_settings
    from tests.engine.test_llm import llm_overrides
    from tests.fake_llm import FakeLLMServer, echo_environment
    from wmh.pipeline.build import build_world_model

    with FakeLLMServer() as fake:
        fake.default = echo_environment
        build_world_model(make_settings(tmp_path, "llm", [corpus], *llm_overrides(fake)))
        fake.default = lambda body: dataclasses.replace(echo_environment(body), delay_s=delay_s)
        limits = ("-o", f"serve.threads={threads}", "-o", f"serve.max_waiting={waiting}")
        server = Server(tmp_path, *limits, *serve_args)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                sids = [
                    client.post("/world_models/llm/sessions", json={"task": "t"}).json()[
                        "session_id"
                    ]
                    for _ in range(sessions)
                ]
            yield server, fake, sids
        finally:
            server.stop()


def burst(server: Server, steps: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Each (session, action) step sent at once."""

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(f"/world_models/llm/sessions/{sid}/step", json={"action": action})
                    for sid, action in steps
                )
            )

    return asyncio.run(send())


def test_a_saturated_provider_gets_503_with_retry_after_instead_of_a_queue(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """Two worker threads and one waiting place: of six steps sent at once to a slow provider,
    three are taken and three answered 503 at once; the refused sessions are untouched."""
    with slow_llm_server(tmp_path, synthetic_corpus, 1.5, 2, 1, 6) as (server, fake, sids):
        before = len(fake.requests)
        # never recorded calls: every one goes to the provider
        answers = burst(server, [(sid, lookup(10**7 + i)) for i, sid in enumerate(sids)])
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 503, 503, 503]
        refused = [sid for sid, a in zip(sids, answers, strict=True) if a.status_code == 503]
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "1"
                assert "the server is busy" in answer.json()["detail"]
                # marked as applying nothing, so a client may send the step again
                assert answer.headers[NOT_APPLIED_HEADER] == "1"
        assert len(fake.requests) - before == 3  # the refused steps never reached it
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for sid in refused:
                history = client.get(f"/world_models/llm/sessions/{sid}").json()["history"]
                assert history == []
                retried = client.post(
                    f"/world_models/llm/sessions/{sid}/step", json={"action": lookup(5)}
                )
                assert retried.status_code == 200


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_llm_steps_await_the_provider_on_the_event_loop_one_at_a_time_per_session(
    tmp_path: Path, synthetic_corpus: Path, store: str
) -> None:
    """With a single worker thread, the steps of two sessions still wait on the provider
    together (a step held a thread while it waited: one request at a time), while the four
    steps sent at once to each session reach it one after another, all four kept; in memory
    and over Redis (its asyncio client)."""
    redis = Redis() if store == "redis" else None
    extra = ("--session-store", "redis", "--redis-url", redis.url) if redis else ()
    try:
        with slow_llm_server(tmp_path, synthetic_corpus, 0.3, 1, 16, 2, *extra) as running:
            server, fake, sids = running
            steps = [
                (sid, lookup(10**7 + 10 * n + i)) for i in range(4) for n, sid in enumerate(sids)
            ]
            answers = burst(server, steps)
            assert [a.status_code for a in answers] == [200] * 8
            assert fake.most_in_flight == 2  # one per session, both sessions at once
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for n, sid in enumerate(sids):
                    history = client.get(f"/world_models/llm/sessions/{sid}").json()["history"]
                    users = sorted(turn["action"]["arguments"]["user_id"] for turn in history)
                    assert users == [10**7 + 10 * n + i for i in range(4)]
    finally:
        if redis is not None:
            redis.stop()

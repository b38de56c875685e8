"""The HTTP backend, started for real (`wmh serve` under uvicorn) and driven with httpx."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.serving.harness_client import answers_in_process
from tests.serving.servers import BIN, Redis, Server
from wmh import AsyncWorldModelClient, WorldModelClient
from wmh.client import RemoteError
from wmh.config.schema import ServeConfig
from wmh.engine.sessions import InMemorySessionStore
from wmh.serving.app import create_app
from wmh.serving.registry import load_registry

TOKEN = "test-token-5b1c"


@pytest.fixture(scope="module")
def root(built_model: Path) -> Path:
    return built_model.parent.parent


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[Server]:
    running = Server(root)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def guarded(root: Path) -> Iterator[Server]:
    """Token auth, at most 3 sessions (idle expiry is driven by a clock in-process below)."""
    running = Server(root, "-o", "serve.max_sessions=3", env={"WMH_API_TOKEN": TOKEN})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Redis]:
    running = Redis()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def two_workers(root: Path, redis_server: Redis) -> Iterator[Server]:
    running = Server(
        root, "--workers", "2", "--session-store", "redis", "--redis-url", redis_server.url
    )
    yield running
    running.stop()


def lookup(record: str) -> dict:
    return {"kind": "tool_call", "name": "get_user", "arguments": {"user_id": record}}


def new_session(client: httpx.Client, task: str = "find a record") -> str:
    created = client.post("/world_models/records/sessions", json={"task": task})
    assert created.status_code == 201, created.text
    return created.json()["session_id"]


def test_a_session_lives_steps_and_is_deleted(server: Server, built_model: Path) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").json()["models"] == ["records"]
        listed = client.get("/world_models").json()
        assert listed["world_models"] == ["records"]
        (info,) = listed["models"]
        assert info["name"] == "records" and "get_user" in info["tools"]
        detail = client.get("/world_models/records").json()
        assert detail["tool_schemas"]["get_user"]["inputSchema"]["required"] == ["user_id"]
        assert client.get("/world_models/nope").status_code == 404
        sid = new_session(client)
        wrapped = client.post(
            f"/world_models/records/sessions/{sid}/step", json={"action": lookup("r-1")}
        )
        bare = client.post(f"/world_models/records/sessions/{sid}/step", json=lookup("r-2"))
        assert wrapped.status_code == bare.status_code == 200
        assert set(bare.json()) == {"observation", "state"}
        # the model's own answers, as it gives them in process
        answers = answers_in_process(built_model, [lookup("r-1"), lookup("r-2")], "find a record")
        assert [wrapped.json()["observation"], bare.json()["observation"]] == answers
        view = client.get(f"/world_models/records/sessions/{sid}").json()
        assert view["task"] == "find a record"
        assert [t["action"]["arguments"]["user_id"] for t in view["history"]] == ["r-1", "r-2"]
        assert view["usage"]["steps"] == 2
        final = client.delete(f"/world_models/records/sessions/{sid}")
        assert final.status_code == 200 and final.json()["steps"] == 2
        assert final.json()["session_id"] == sid and final.json()["total"]["calls"] == 0
        gone = client.get(f"/world_models/records/sessions/{sid}")
        assert gone.status_code == 404 and "no session" in gone.json()["detail"]
        assert client.get("/docs").status_code == 200
        assert (
            "/world_models/{name}/sessions/{session_id}/step"
            in client.get("/openapi.json").json()["paths"]
        )


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/world_models/nope/sessions", {"task": ""}, 404),
        ("get", "/world_models/records/sessions/nope", None, 404),
        ("post", "/world_models/records/sessions/nope/step", lookup("r-1"), 404),
        ("delete", "/world_models/records/sessions/nope", None, 404),
        ("post", "/world_models/records/sessions/SID/step", {"kind": "dance"}, 422),
        ("post", "/world_models/records/sessions/SID/step", {"action": {"name": 5}}, 422),
        ("post", "/world_models/records/sessions/SID/step", None, 422),
    ],
)
def test_unknown_things_are_404_and_bad_actions_422_with_a_detail(
    server: Server, method: str, path: str, body: dict | None, status: int
) -> None:
    with httpx.Client(base_url=server.url) as client:
        path = path.replace("SID", new_session(client))
        answer = client.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


JSON = {"content-type": "application/json"}


def test_the_token_guards_every_route_but_healthz(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url) as client:
        assert client.get("/healthz").status_code == 200
        for path in ("/world_models", "/openapi.json", "/docs"):
            assert client.get(path).status_code == 401
        refused = client.post("/world_models/records/sessions", json={})
        assert refused.status_code == 401 and "bearer token" in refused.json()["detail"]
        assert refused.headers["www-authenticate"] == "Bearer"
        # Whatever the body: without the token, nothing is read (a body that is not JSON was
        # a 400 first), on the step route too.
        for path in ("/world_models/records/sessions", "/world_models/records/sessions/x/step"):
            garbled = client.post(path, content=b"{not json", headers=JSON)
            assert garbled.status_code == 401 and "bearer token" in garbled.json()["detail"]
        assert client.get("/no/such/route").status_code == 401
        wrong = client.get("/world_models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = client.get("/world_models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        # The scheme is case-insensitive (RFC 9110); the token is not.
        lower = client.get("/world_models", headers={"Authorization": f"bearer {TOKEN}"})
        assert lower.status_code == 200
        upper = client.get("/world_models", headers={"Authorization": f"Bearer {TOKEN.upper()}"})
        assert upper.status_code == 401
        # The token under another scheme, or alone, is not a bearer token.
        for sent in (f"Basic {TOKEN}", f"Token {TOKEN}", TOKEN):
            other = client.get("/world_models", headers={"Authorization": sent})
            assert other.status_code == 401, sent


def test_the_python_client_sends_its_token(guarded: Server) -> None:
    """`WorldModelClient(token=...)` and its async twin send `Authorization: Bearer <token>` on
    every request; without it, a guarded server refuses them."""
    with WorldModelClient(guarded.url, "records", token=TOKEN) as wm:
        session = wm.new_session("find a record")
        wm.step(session.id, lookup("r-1"))
        assert wm.end_session(session.id).steps == 1

    async def run() -> list[str]:
        async with AsyncWorldModelClient(guarded.url, "records", token=TOKEN) as awm:
            return await awm.world_models()

    assert asyncio.run(run()) == ["records"]
    with WorldModelClient(guarded.url, "records") as anonymous, pytest.raises(RemoteError) as no:
        anonymous.world_models()
    assert no.value.status == 401


def test_the_oldest_sessions_go_past_the_cap(guarded: Server) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded.url, headers=auth) as client:
        first, *rest = [new_session(client) for _ in range(4)]
        assert client.get(f"/world_models/records/sessions/{first}").status_code == 404
        for sid in rest:
            assert client.get(f"/world_models/records/sessions/{sid}").status_code == 200


def test_idle_sessions_expire_after_the_configured_ttl(root: Path) -> None:
    """`serve.session_ttl_s` reaches the store; the routes then answer 404 once a session has
    been idle past it, by a clock the test moves (no sleeping)."""
    serve = ServeConfig(session_ttl_s=1.5)
    registry = load_registry(root, [], serve)
    assert isinstance(store := registry.models["records"].sessions, InMemorySessionStore)
    assert store.ttl_s == 1.5
    now = [0.0]
    registry.models["records"].sessions = InMemorySessionStore(
        serve.max_sessions, serve.session_ttl_s, clock=lambda: now[0]
    )
    with TestClient(create_app(registry)) as client:
        idle, used = new_session(client), new_session(client)
        now[0] = 1.0
        answer = client.post(f"/world_models/records/sessions/{used}/step", json=lookup("r-1"))
        assert answer.status_code == 200
        now[0] = 2.0  # idle for 2.0 s, used 1.0 s ago
        gone = client.get(f"/world_models/records/sessions/{idle}")
        assert gone.status_code == 404 and "expired" in gone.json()["detail"]
        assert client.get(f"/world_models/records/sessions/{used}").status_code == 200
        now[0] = 3.6
        assert client.get(f"/world_models/records/sessions/{used}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/world_models", "GET"),
        ("delete", "/world_models/records", "GET"),
        ("put", "/world_models/records/sessions", "POST"),
        ("get", "/world_models/records/sessions/SID/step", "POST"),
        ("patch", "/world_models/records/sessions/SID", "DELETE, GET"),
        ("post", "/world_models/records/sessions/SID/usage", "GET"),
        ("get", "/world_models/records/sessions/SID/score", "POST"),
        ("post", "/healthz", "GET"),
    ],
)
def test_a_wrong_method_is_405_with_the_allowed_ones_and_changes_nothing(
    server: Server, method: str, path: str, allow: str
) -> None:
    with httpx.Client(base_url=server.url) as client:
        sid = new_session(client)
        answer = client.request(method, path.replace("SID", sid))
        assert answer.status_code == 405
        assert answer.headers["allow"] == allow
        assert answer.json() == {"detail": "Method Not Allowed"}
        view = client.get(f"/world_models/records/sessions/{sid}").json()
        assert view["history"] == [] and view["usage"]["steps"] == 0


def test_several_workers_over_in_memory_sessions_are_refused(root: Path) -> None:
    done = subprocess.run(
        [str(BIN / "wmh"), "serve", "--root", str(root), "--workers", "2", "--port", "9"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: serve.workers=2 needs serve.session_store=redis: in-memory sessions live in "
        "one process, so other workers would not find them"
    )
    assert "Traceback" not in done.stderr and "serving" not in done.stdout


def _stampede(url: str, sessions: int = 50, steps: int = 8) -> None:
    """`sessions` sessions step at once, plus 20 concurrent steps on one shared session; every
    history must hold exactly its own steps, in order."""
    with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=80)) as client:
        ids = [new_session(client, f"task {i}") for i in range(sessions)]
        shared = new_session(client, "shared")

        def run(i: int) -> None:
            for n in range(steps):
                answer = client.post(
                    f"/world_models/records/sessions/{ids[i]}/step", json=lookup(f"s{i}-{n}")
                )
                assert answer.status_code == 200, answer.text

        def hit_shared(n: int) -> None:
            answer = client.post(
                f"/world_models/records/sessions/{shared}/step", json=lookup(f"shared-{n}")
            )
            assert answer.status_code == 200, answer.text

        with ThreadPoolExecutor(max_workers=64) as pool:
            futures = [pool.submit(run, i) for i in range(sessions)]
            futures += [pool.submit(hit_shared, n) for n in range(20)]
            for future in futures:
                future.result()
        for i, sid in enumerate(ids):
            view = client.get(f"/world_models/records/sessions/{sid}").json()
            assert view["task"] == f"task {i}"
            got = [t["action"]["arguments"]["user_id"] for t in view["history"]]
            assert got == [f"s{i}-{n}" for n in range(steps)]
            assert view["usage"]["steps"] == steps
        view = client.get(f"/world_models/records/sessions/{shared}").json()
        got = sorted(t["action"]["arguments"]["user_id"] for t in view["history"])
        assert got == sorted(f"shared-{n}" for n in range(20))


def test_fifty_sessions_step_at_once_without_losing_or_crossing_steps(server: Server) -> None:
    _stampede(server.url)


@pytest.mark.slow
def test_the_same_with_redis_sessions_and_two_workers(two_workers: Server) -> None:
    _stampede(two_workers.url)
    # Sessions are shared: any worker finds a session another one created. Each request on a
    # connection of its own (one keep-alive connection stays with one worker), and both
    # workers seen answering among them.
    with httpx.Client(base_url=two_workers.url) as client:
        sid = new_session(client)
    pids, reads = set(), []
    for _ in range(30):
        with httpx.Client(base_url=two_workers.url, headers={"Connection": "close"}) as fresh:
            pids.add(fresh.get("/healthz").json()["pid"])
        with httpx.Client(base_url=two_workers.url, headers={"Connection": "close"}) as fresh:
            reads.append(fresh.get(f"/world_models/records/sessions/{sid}").status_code)
    assert len(pids) == 2 and reads == [200] * 30


def test_a_seed_state_of_the_records_alone_is_taken_and_the_schema_says_so(server: Server) -> None:
    """The server reads a seed_state with a key other than an EnvState's as the records alone;
    the schema declared only an EnvState, so schemathesis flagged such a body (a `scratchpad`
    that is not a string beside another key) as one the server should have refused."""
    import jsonschema

    body = {"task": "t", "seed_state": {"users": {"7": True}, "scratchpad": [1, {}]}}
    wrong = {"task": "t", "seed_state": {"scratchpad": [1, {}]}}  # an EnvState, and a bad one
    with httpx.Client(base_url=server.url) as client:
        document = client.get("/openapi.json").json()
        made = client.post("/world_models/records/sessions", json=body)
        refused = client.post("/world_models/records/sessions", json=wrong)
    assert made.status_code == 201, made.text
    assert made.json()["state"]["structured"] == body["seed_state"]
    assert refused.status_code == 422, refused.text
    request = document["paths"]["/world_models/{name}/sessions"]["post"]["requestBody"]
    schema = {**request["content"]["application/json"]["schema"], **document}
    jsonschema.validate(body, schema)  # what the server takes, the schema allows
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)  # and what it refuses, the schema refuses


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_only_documented_answers(
    server: Server, tmp_path: Path
) -> None:
    """Fuzz every route from /openapi.json (coverage, fuzzing and stateful phases). One check is
    left out: the schema cannot say that a tool_call needs a non-empty name, so some
    schema-valid actions are rightly refused with 422."""
    done = subprocess.run(
        [
            str(BIN / "st"),
            "run",
            f"{server.url}/openapi.json",
            "--max-examples",
            "25",
            "--max-time",
            "15",
            "--seed",
            "7",
            "--exclude-checks",
            "positive_data_acceptance",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # its cache directory
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "passed" in done.stdout


def test_a_server_leaves_its_loaded_models_out_of_the_collectors_sweeps(root: Path) -> None:
    """A full collection over a loaded model paused a step for 50-140 ms; once loaded, the
    server's heap is frozen (moved out of the collector's generations)."""
    import gc

    gc.unfreeze()
    try:
        registry = load_registry(root, [], ServeConfig())
        assert registry.models
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

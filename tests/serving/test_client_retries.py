"""The HTTP client sends a request that changes a session once: a step that timed out may have
been applied, and sent again it was applied several times (three turns from one call)."""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy
import pytest

from wmh import Action, AsyncWorldModelClient, WorldModelClient
from wmh.client import ConnectionLostError, RemoteError
from wmh.errors import NOT_APPLIED_HEADER, ConfigError, InputError


@contextmanager
def silent_server() -> Iterator[tuple[str, list[bytes]]]:
    """A 127.0.0.1 server that reads each request and never answers (a step the server is
    still applying when the client's timeout passes); yields its URL and the requests seen."""
    seen: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                seen.append(conn.recv(65536).split(b"\r\n", 1)[0])
            except TimeoutError:
                pass
            held.append(conn)  # kept open, never answered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


STEP = Action(name="get_user", arguments={"user_id": 1})


def test_a_step_without_an_answer_is_sent_once_and_a_read_is_retried() -> None:
    with silent_server() as (url, seen), WorldModelClient(url, "m", timeout=0.3, retries=3) as wm:
        with pytest.raises(ConnectionLostError, match="it may have been applied") as lost:
            wm.step("s1", STEP)
        assert str(lost.value).startswith(
            f"no answer from {url}/world_models/m/sessions/s1/step to POST (ReadTimeout)"
        )
        time.sleep(0.2)
        assert seen == [b"POST /world_models/m/sessions/s1/step HTTP/1.1"]
        with pytest.raises(ConnectionLostError, match="to GET"):
            wm.session("s1")
        time.sleep(0.2)
        assert seen[1:] == [b"GET /world_models/m/sessions/s1 HTTP/1.1"] * 3


def test_the_async_client_sends_a_step_once_too() -> None:
    async def run(url: str) -> None:
        async with AsyncWorldModelClient(url, "m", timeout=0.3, retries=3) as wm:
            with pytest.raises(ConnectionLostError, match="it may have been applied"):
                await wm.step("s1", STEP)

    with silent_server() as (url, seen):
        asyncio.run(run(url))
        time.sleep(0.2)
        assert seen == [b"POST /world_models/m/sessions/s1/step HTTP/1.1"]


def test_an_unreachable_server_is_retried_then_named_without_its_credentials() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: every connection is refused
        with WorldModelClient(f"http://u:pw-secret@127.0.0.1:{port}", "m", retries=2) as wm:
            with pytest.raises(ConnectionLostError) as lost:
                wm.step("s1", STEP)
    assert str(lost.value) == (
        f"cannot reach http://***@127.0.0.1:{port}/world_models/m/sessions/s1/step (ConnectError)"
    )


def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="line break") as refused:
        WorldModelClient("http://127.0.0.1:9", "m", token="sk-SECRET123\n")
    assert "sk-SECRET123" not in str(refused.value)


class CountingTransport(httpx.HTTPTransport):
    """The real HTTP transport, counting the requests it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return super().handle_request(request)


def test_a_step_that_never_left_is_sent_again() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
        transport = CountingTransport()
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        with httpx.Client(base_url=url, transport=transport) as http:
            wm = WorldModelClient(url, "m", retries=3, client=http)
            with pytest.raises(ConnectionLostError, match="cannot reach"):
                wm.step("s1", STEP)
    assert transport.sent == 3


@contextmanager
def scripted(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Iterator[tuple[str, list[str], list[bytes]]]:
    """A 127.0.0.1 server answering every POST `status`, `body` and `headers`; yields its URL,
    the methods and the bodies it received."""
    methods: list[str] = []
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            methods.append(self.command)
            received.append(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(status)
            for key, value in {**(headers or {}), "content-length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", methods, received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def answering(status: int, headers: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """`scripted` answering an error; yields its URL and the methods it received."""
    body = b'{"detail": "the session store is unavailable"}'
    with scripted(status, body, headers) as (url, methods, _):
        yield url, methods


def test_a_503_is_retried_for_a_step_only_when_the_server_applied_nothing() -> None:
    """A store failing while it saves answers 503 after the step was written: sent again, it
    would be applied twice. A busy server marks its 503 as applying nothing."""
    with answering(503, {"retry-after": "0"}) as (url, seen):
        with WorldModelClient(url, "m", retries=3) as wm, pytest.raises(RemoteError) as failed:
            wm.step("s1", STEP)
    assert seen == ["POST"] and "it may have been applied" in str(failed.value)
    with answering(503, {"retry-after": "0", NOT_APPLIED_HEADER: "1"}) as (url, seen):
        with WorldModelClient(url, "m", retries=3) as wm, pytest.raises(RemoteError) as failed:
            wm.step("s1", STEP)
    assert seen == ["POST"] * 3 and "may have been applied" not in str(failed.value)


def test_a_busy_servers_retry_after_is_waited_before_sending_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server asks for a second's wait (Retry-After: 1); the client came back after its own
    backoff alone, a tenth of a second, while the server was still busy. (The waits are read
    from the client's sleeps, not timed.)"""
    from wmh import client as client_module

    slept: list[float] = []
    options = client_module._retry_options
    monkeypatch.setattr(
        client_module, "_retry_options", lambda *a: {**options(*a), "sleep": slept.append}
    )
    busy = {"retry-after": "1", NOT_APPLIED_HEADER: "1"}
    with answering(503, busy) as (url, seen):
        with WorldModelClient(url, "m", retries=2) as wm, pytest.raises(RemoteError):
            wm.step("s1", STEP)
    assert seen == ["POST", "POST"] and slept == [1.0]


def test_dates_and_enums_go_as_json_and_numpy_ints_are_refused() -> None:
    """Over HTTP a date or an Enum goes as pydantic writes it (they did before the value
    checks); in process a world model refuses them, as it cannot compare them."""
    answer = b'{"observation": {"content": "ok"}, "state": {}}'
    with scripted(200, answer) as (url, _, sent), WorldModelClient(url, "m") as wm:
        arguments = {"day": datetime.date(2026, 5, 1), "cabin": Cabin.ECONOMY}
        assert wm.step("s1", Action(name="book", arguments=arguments)).content == "ok"
        with pytest.raises(InputError, match="holds a value of type int64"):
            wm.step("s1", Action(name="book", arguments={"n": numpy.int64(2)}))
    assert [json.loads(body)["action"]["arguments"] for body in sent] == [
        {"day": "2026-05-01", "cabin": "economy"}
    ]


class Cabin(enum.Enum):
    ECONOMY = "economy"

"""The HTTP client sends a request that changes a session once: a step that timed out may have
been applied, and sent again it was applied several times (three turns from one call)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from wmh import Action, AsyncWorldModelClient, WorldModelClient
from wmh.client import ConnectionLostError
from wmh.errors import ConfigError


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

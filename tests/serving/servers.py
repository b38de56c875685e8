"""Real servers for the tests on free 127.0.0.1 ports: `wmh serve`, `redis-server`, and any other
server process (`background`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = log.read_text(errors="replace") if log else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up in {timeout}s")


@contextmanager
def background(
    argv: list[str],
    ready: Callable[[], object],
    what: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    own_group: bool = False,
) -> Iterator[subprocess.Popen]:
    """Run `argv` (output to `log`) until `ready()` is true, yield it, then stop it; with
    `own_group`, the whole process group (servers that start workers)."""
    with log.open("w") as sink:
        proc = subprocess.Popen(
            argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=own_group
        )
    try:
        wait_until(ready, timeout, what, proc, log)
        yield proc
    finally:
        if own_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def answers_ok(url: str) -> Callable[[], bool]:
    """A readiness check: `url` answers 200."""
    return lambda: httpx.get(url, timeout=2).status_code == 200


class Server:
    """`wmh serve` in a subprocess; `url` once it answers /healthz."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The access log goes to a file: an unread pipe fills up and blocks the server.
        self.log = Path(tempfile.mkstemp(prefix="wmh-serve-", suffix=".log")[1])
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "wmh"), "serve", "--root", str(root), "--port", str(self.port), *args],
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            answers_ok(f"{self.url}/healthz"),
            90,
            "wmh serve",
            self.proc,
            self.log,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.unlink(missing_ok=True)


class Redis:
    """A throw-away redis-server (no persistence) on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: install Debian's redis-server (make setup does)"
            )
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        import redis

        client = redis.Redis(port=self.port)
        wait_until(client.ping, 30, "redis-server", self.proc)
        client.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)

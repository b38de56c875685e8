"""The Redis session lock's renewal, and Redis URLs fit to show (no password)."""

from __future__ import annotations

import threading
from typing import Any

from redis.exceptions import LockError, RedisError


class RenewedLock:
    """A session lock with an owner token and a short TTL, renewed while its step runs: a worker
    killed mid-step leaves a lock that expires within `ttl_s`, not one that blocks for minutes."""

    def __init__(self, lock: Any, ttl_s: float) -> None:
        self.lock = lock
        self.ttl_s = ttl_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.lock.reacquire()
            except (LockError, RedisError):
                return

    def __enter__(self) -> RenewedLock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl_s)


def safe_url(url: str) -> str:
    """A Redis URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"

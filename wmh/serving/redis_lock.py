"""The renewal of Redis session locks, and Redis URLs fit to show (no password)."""

from __future__ import annotations

import threading
from typing import Any

from redis.exceptions import RedisError


class LockRenewer:
    """Keeps the session locks a process holds alive: one thread per store renews every held
    lock each third of its TTL, so a step that runs long keeps its lock and a worker killed
    mid-step leaves a lock that expires within the TTL, not one that blocks for minutes. A step
    costs no thread of its own (starting and joining one per step cost more than the step)."""

    def __init__(self, renew: Any, ttl_s: float) -> None:
        self._renew = renew  # a registered RENEW script
        self.ttl_s = ttl_s
        self._held: dict[str, str] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, token: str) -> None:
        with self._guard:
            self._held[key] = token
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()

    def drop(self, key: str) -> None:
        with self._guard:
            self._held.pop(key, None)

    def _run(self) -> None:
        wait = threading.Event()
        while True:
            wait.wait(self.ttl_s / 3)
            with self._guard:
                held = list(self._held.items())
            for key, token in held:
                try:
                    self._renew(keys=[key], args=[token, int(self.ttl_s * 1000)])
                except RedisError:
                    pass  # Redis is away: the step fails on its own, the lock expires

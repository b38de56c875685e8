"""Sessions in Redis, so several workers or replicas serve one model consistently.

Each session is one JSON value (`<prefix>:s:<id>`) that expires after `ttl_s` idle seconds; a sorted
set (`<prefix>:idx`) orders live sessions by last use so the least recently used is evicted past
`max_sessions`. Steps on one session are serialised across processes by a Redis lock
(`<prefix>:lock:<id>`); steps on different sessions run in parallel.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, RedisError

from wmh.core.types import Session
from wmh.errors import SessionNotFoundError, StoreError


class RedisSessionStore:
    """The `SessionStore` protocol over a Redis server (`redis://host:port/db`)."""

    def __init__(
        self,
        url: str,
        namespace: str,
        max_sessions: int = 1024,
        ttl_s: float = 3600.0,
        lock_timeout_s: float = 120.0,
        client: redis.Redis | None = None,
    ) -> None:
        self.max_sessions = max_sessions
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.lock_timeout_s = lock_timeout_s
        self.prefix = f"wmh:{namespace}"
        self.client = client or redis.Redis.from_url(url)
        self._url = url

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:s:{session_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:idx"

    def ping(self) -> None:
        """Fail early, with the URL (never its password), when Redis cannot be reached."""
        try:
            self.client.ping()
        except RedisError as exc:
            raise StoreError(f"cannot reach Redis at {_safe(self._url)}: {exc}") from None

    def _evict(self, now_ms: int) -> None:
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self._index, "-inf", now_ms - self.ttl_ms)
        pipe.zcard(self._index)
        _, count = pipe.execute()
        excess = int(count) - self.max_sessions
        if excess > 0:
            popped: list[tuple[bytes | str, float]] = self.client.zpopmin(  # type: ignore[assignment]
                self._index, excess
            )
            for member, _ in popped:
                session_id = member.decode() if isinstance(member, bytes) else str(member)
                self.client.delete(self._key(session_id))

    def create(self, task: str) -> Session:
        session = Session(id=uuid.uuid4().hex, task=task)
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline()
        pipe.set(self._key(session.id), session.model_dump_json(), px=self.ttl_ms)
        pipe.zadd(self._index, {session.id: now_ms})
        pipe.execute()
        self._evict(now_ms)
        return session

    def get(self, session_id: str) -> Session:
        pipe = self.client.pipeline()
        pipe.get(self._key(session_id))
        pipe.pexpire(self._key(session_id), self.ttl_ms)
        raw, _ = pipe.execute()
        if raw is None:
            raise SessionNotFoundError(f"no session '{session_id}' (it may have expired)")
        self.client.zadd(self._index, {session_id: int(time.time() * 1000)})
        return Session.model_validate_json(raw)

    def save(self, session: Session) -> None:
        # xx: only an existing session is written, so a step racing an eviction cannot revive it.
        written = self.client.set(
            self._key(session.id), session.model_dump_json(), px=self.ttl_ms, xx=True
        )
        if not written:
            raise SessionNotFoundError(f"no session '{session.id}' (it may have expired)")
        self.client.zadd(self._index, {session.id: int(time.time() * 1000)})

    def delete(self, session_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self._key(session_id))
        pipe.zrem(self._index, session_id)
        deleted, _ = pipe.execute()
        if not deleted:
            raise SessionNotFoundError(f"no session '{session_id}'")

    @contextmanager
    def locked(self, session_id: str) -> Iterator[Session]:
        """Hold the session's Redis lock for a read-modify-write; yields the current session."""
        lock = self.client.lock(
            f"{self.prefix}:lock:{session_id}",
            timeout=self.lock_timeout_s,
            blocking_timeout=self.lock_timeout_s,
        )
        if not lock.acquire():
            raise StoreError(f"session '{session_id}' is busy: its lock was not released in time")
        try:
            yield self.get(session_id)
        finally:
            try:
                lock.release()
            except LockError:
                pass  # it expired while the step ran; the step's write already happened

    def __len__(self) -> int:
        self._evict(int(time.time() * 1000))
        return int(self.client.zcard(self._index))


def _safe(url: str) -> str:
    """A Redis URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"

"""Sessions in Redis, so several workers or replicas serve one model consistently.

A session is two keys: its task and state as one JSON value (`<prefix>:m:<id>`) and its history
as a list of turns (`<prefix>:t:<id>`), both expiring after `ttl_s` idle seconds. A step appends
its turn instead of rewriting the whole history, and each process keeps the sessions it has seen,
fetching only the turns other processes added since, so a step costs the same at turn 500 as at
turn 5. A sorted set (`<prefix>:idx`) orders live sessions by last use, so the least recently used
is evicted past `max_sessions`. Steps on one session are serialised across processes by a Redis
lock (`<prefix>:lock:<id>`, an owner token and a short TTL renewed while the step runs); steps on
different sessions run in parallel. Redis failing is a StoreError (a 503 over HTTP).
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from pydantic import BaseModel, Field
from redis.exceptions import LockError, RedisError

from wmh.core.types import EnvState, EpisodeScore, Session, Turn, UsageTotals
from wmh.errors import SessionNotFoundError, StoreError
from wmh.serving.redis_lock import RenewedLock, safe_url


class _Meta(BaseModel):
    """A session's task, state, usage and score, with its history's length and generation: a
    history that is rewritten rather than appended to gets a new generation, so every process
    reads it anew."""

    task: str = ""
    state: EnvState
    generation: str
    turns: int
    created_at: float = 0.0
    usage: dict[str, UsageTotals] = Field(default_factory=dict)
    score: EpisodeScore | None = None
    size_bytes: int = 0


F = TypeVar("F", bound=Callable[..., Any])


def _unavailable(method: F) -> F:
    """Redis failing (down, unreachable, timing out) is a StoreError naming the server, which
    the HTTP layer answers 503 with Retry-After; the session itself is untouched."""

    @functools.wraps(method)
    def wrapper(self: RedisSessionStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(
                f"the session store is unavailable (Redis at {safe_url(self._url)}: "
                f"{type(exc).__name__}); retry shortly"
            ) from None

    return wrapper  # type: ignore[return-value]


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
        lock_ttl_s: float = 6.0,
    ) -> None:
        self.max_sessions = max_sessions
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.lock_timeout_s = lock_timeout_s
        self.lock_ttl_s = lock_ttl_s
        self.prefix = f"wmh:{namespace}"
        self.client = client or redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5
        )
        self._url = url
        self._cache: OrderedDict[str, tuple[str, list[Turn]]] = OrderedDict()
        self._guard = threading.Lock()

    def _meta(self, session_id: str) -> str:
        return f"{self.prefix}:m:{session_id}"

    def _turns(self, session_id: str) -> str:
        return f"{self.prefix}:t:{session_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:idx"

    def _forget(self, session_id: str) -> None:
        with self._guard:
            self._cache.pop(session_id, None)

    def _remember(self, session_id: str, generation: str, history: list[Turn]) -> None:
        """Keep the history this process knows Redis holds for a session (a copy of the list:
        callers change theirs)."""
        with self._guard:
            self._cache[session_id] = (generation, list(history))
            self._cache.move_to_end(session_id)
            while len(self._cache) > self.max_sessions:
                self._cache.popitem(last=False)

    def ping(self) -> None:
        """Fail early, with the URL (never its password), when Redis cannot be reached."""
        try:
            self.client.ping()
        except RedisError as exc:
            raise StoreError(f"cannot reach Redis at {safe_url(self._url)}: {exc}") from None

    def _evict(self, now_us: int) -> None:
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self._index, "-inf", now_us - self.ttl_ms * 1000)
        pipe.zcard(self._index)
        _, count = pipe.execute()
        excess = int(count) - self.max_sessions
        if excess > 0:
            popped: list[tuple[bytes | str, float]] = self.client.zpopmin(  # type: ignore[assignment]
                self._index, excess
            )
            for member, _ in popped:
                session_id = member.decode() if isinstance(member, bytes) else str(member)
                self.client.delete(self._meta(session_id), self._turns(session_id))
                self._forget(session_id)

    @_unavailable
    def create(self, task: str, state: EnvState | None = None) -> Session:
        session = Session(id=uuid.uuid4().hex, task=task, state=state or EnvState())
        now_us = _now_us()
        meta = _Meta(
            task=task,
            state=session.state,
            generation=uuid.uuid4().hex,
            turns=0,
            created_at=session.created_at,
        )
        pipe = self.client.pipeline()
        pipe.set(self._meta(session.id), meta.model_dump_json(), px=self.ttl_ms)
        pipe.zadd(self._index, {session.id: now_us})
        pipe.execute()
        self._remember(session.id, meta.generation, [])
        self._evict(now_us)
        return session

    def _missing(self, session_id: str) -> SessionNotFoundError:
        self._forget(session_id)
        self.client.zrem(self._index, session_id)
        return SessionNotFoundError(f"no session '{session_id}' (it may have expired)")

    @_unavailable
    def get(self, session_id: str) -> Session:
        with self._guard:
            generation, cached = self._cache.get(session_id, ("", []))
        pipe = self.client.pipeline(transaction=False)  # one round trip, no MULTI/EXEC
        pipe.get(self._meta(session_id))
        pipe.lrange(self._turns(session_id), len(cached), -1)
        pipe.pexpire(self._meta(session_id), self.ttl_ms)
        pipe.pexpire(self._turns(session_id), self.ttl_ms)
        pipe.zadd(self._index, {session_id: _now_us()}, xx=True)
        raw, added, *_ = pipe.execute()
        if raw is None:
            raise self._missing(session_id)
        meta = _Meta.model_validate_json(raw)
        # Rewritten since this process cached it: read it all (with nothing cached, the pipeline
        # above already did).
        if cached and meta.generation != generation:
            cached = []
            added = self.client.lrange(self._turns(session_id), 0, -1)
        history = cached + [Turn.model_validate_json(item) for item in added]
        del history[meta.turns :]  # turns a save is still writing
        self._remember(session_id, meta.generation, history)
        return Session(
            id=session_id,
            task=meta.task,
            state=meta.state,
            history=history,
            created_at=meta.created_at,
            usage=meta.usage,
            score=meta.score,
            size_bytes=meta.size_bytes,
        )

    @_unavailable
    def save(self, session: Session) -> None:
        with self._guard:
            generation, cached = self._cache.get(session.id, ("", []))
        appended = (
            generation
            and len(session.history) >= len(cached)
            and all(a is b for a, b in zip(cached, session.history, strict=False))
        )
        if not appended:
            generation = uuid.uuid4().hex
        meta = _Meta(
            task=session.task,
            state=session.state,
            generation=generation,
            turns=len(session.history),
            created_at=session.created_at,
            usage=session.usage,
            score=session.score,
            size_bytes=session.size_bytes,
        )
        new = session.history[len(cached) :] if appended else session.history
        pipe = self.client.pipeline()  # MULTI/EXEC: readers see all of it or none
        # xx: only an existing session is written, so a step racing an eviction cannot revive it.
        pipe.set(self._meta(session.id), meta.model_dump_json(), px=self.ttl_ms, xx=True)
        if not appended:
            pipe.delete(self._turns(session.id))
        if new:
            pipe.rpush(self._turns(session.id), *(turn.model_dump_json() for turn in new))
        pipe.pexpire(self._turns(session.id), self.ttl_ms)
        pipe.zadd(self._index, {session.id: _now_us()}, xx=True)
        written, *_ = pipe.execute()
        if not written:
            self.client.delete(self._turns(session.id))
            raise self._missing(session.id)
        self._remember(session.id, generation, session.history)

    @_unavailable
    def delete(self, session_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self._meta(session_id), self._turns(session_id))
        pipe.zrem(self._index, session_id)
        deleted, _ = pipe.execute()
        self._forget(session_id)
        if not deleted:
            raise SessionNotFoundError(f"no session '{session_id}'")

    @contextmanager
    def locked(self, session_id: str) -> Iterator[Session]:
        """Hold the session's Redis lock for a read-modify-write; yields the current session.

        The lock has an owner token (redis-py's) and a TTL of `lock_ttl_s`, renewed while the
        block runs, so a lock whose worker died frees itself within seconds."""
        lock = self.client.lock(
            f"{self.prefix}:lock:{session_id}",
            timeout=self.lock_ttl_s,
            blocking_timeout=self.lock_timeout_s,
            sleep=0.002,  # redis-py polls a taken lock; its default 0.1 s would dwarf a step
            thread_local=False,  # the renewing thread holds the same token
        )
        try:
            acquired = lock.acquire()
        except RedisError as exc:
            raise StoreError(
                f"the session store is unavailable (Redis at {safe_url(self._url)}: "
                f"{type(exc).__name__}); retry shortly"
            ) from None
        if not acquired:
            raise StoreError(f"session '{session_id}' is busy: its lock was not released in time")
        try:
            with RenewedLock(lock, self.lock_ttl_s):
                yield self.get(session_id)
        finally:
            try:
                lock.release()
            except (LockError, RedisError):
                pass  # it expired, or Redis went; the lock's TTL frees it either way

    @_unavailable
    def __len__(self) -> int:
        self._evict(_now_us())
        return int(self.client.zcard(self._index))


def _now_us() -> int:
    """The index's score: last use in microseconds (milliseconds tie: a session created and
    used within one millisecond would have no least recently used order)."""
    return time.time_ns() // 1000

"""Sessions in Redis, so several workers or replicas serve one model consistently.

A session is two keys: its task and state as one JSON value (`<prefix>:m:<id>`) and its history
as a list of turns (`<prefix>:t:<id>`), both expiring after `ttl_s` idle seconds. A step appends
its turn instead of rewriting the whole history, and each process keeps the sessions it has seen,
fetching only the turns other processes added since, so a step costs the same at turn 500 as at
turn 5. A sorted set (`<prefix>:idx`) orders live sessions by last use, so the least recently used
is evicted past `max_sessions`. Steps on one session are serialised across processes by a Redis
lock (`<prefix>:lock:<id>`); steps on different sessions run in parallel.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from pydantic import BaseModel
from redis.exceptions import LockError, RedisError

from wmh.core.types import EnvState, Session, Turn
from wmh.errors import SessionNotFoundError, StoreError


class _Meta(BaseModel):
    """A session's task and state, with its history's length and generation: a history that is
    rewritten rather than appended to gets a new generation, so every process reads it anew."""

    task: str = ""
    state: EnvState
    generation: str
    turns: int


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
            raise StoreError(f"cannot reach Redis at {_safe(self._url)}: {exc}") from None

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

    def create(self, task: str) -> Session:
        session = Session(id=uuid.uuid4().hex, task=task)
        now_us = _now_us()
        meta = _Meta(task=task, state=session.state, generation=uuid.uuid4().hex, turns=0)
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
        return Session(id=session_id, task=meta.task, state=meta.state, history=history)

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
        """Hold the session's Redis lock for a read-modify-write; yields the current session."""
        lock = self.client.lock(
            f"{self.prefix}:lock:{session_id}",
            timeout=self.lock_timeout_s,
            blocking_timeout=self.lock_timeout_s,
            sleep=0.002,  # redis-py polls a taken lock; its default 0.1 s would dwarf a step
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
        self._evict(_now_us())
        return int(self.client.zcard(self._index))


def _now_us() -> int:
    """The index's score: last use in microseconds (milliseconds tie: a session created and
    used within one millisecond would have no least recently used order)."""
    return time.time_ns() // 1000


def _safe(url: str) -> str:
    """A Redis URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"

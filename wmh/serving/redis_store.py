"""Sessions in Redis, so several workers or replicas serve one model consistently.

A session is two keys: its task and state as one JSON value (`<prefix>:m:<id>`) and its history
as a list of turns (`<prefix>:t:<id>`), both expiring after `ttl_s` idle seconds. A step appends
its turn instead of rewriting the whole history, and each process keeps the sessions it has seen,
fetching only the turns other processes added since, so a step costs the same at turn 500 as at
turn 5. A sorted set (`<prefix>:idx`) orders live sessions by last use, so the least recently used
is evicted past `max_sessions`. Steps on one session are serialised across processes by a Redis
lock (`<prefix>:lock:<id>`, an owner token and a short TTL renewed while the step runs); steps on
different sessions run in parallel. A step is two round trips: one script takes the lock and reads
the new turns, one writes the step and releases the lock (`redis_scripts.py`); a replay step on the
event loop, on a session this process last read or wrote, is one (`redis_loop.py`). Redis failing
is a StoreError (a 503 over HTTP).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.exceptions import RedisError

from wmh.core.secrets import url_without_credentials
from wmh.core.types import EnvState, Session, Turn
from wmh.engine.sessions import DropListeners
from wmh.errors import SessionNotFoundError, StoreError
from wmh.serving.redis_lock import LockRenewer
from wmh.serving.redis_meta import SessionMeta, now_us, saved_meta, unavailable
from wmh.serving.redis_scripts import LOCK_AND_READ, RENEW, SAVE_AND_UNLOCK, UNLOCK

LOCK_RETRY_S = 0.002  # how soon a step waiting for a busy session's lock asks again
CACHED_META_MAX = 64 * 1024  # the largest meta a process keeps (to step a session in one trip)


class RedisSessionStore(DropListeners):
    """The `SessionStore` protocol over a Redis server (`redis://host:port/db`). `on_drop`
    listeners hear of each session this process lets go of: deleted, evicted or expired here,
    or pushed out of its own cache of `max_sessions` sessions (which also bounds what it keeps
    of sessions that ended on other workers)."""

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
        super().__init__()
        self.max_sessions = max_sessions
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.lock_timeout_s = lock_timeout_s
        self.lock_ttl_s = lock_ttl_s
        self.prefix = f"wmh:{namespace}"
        self.client = client or redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5
        )
        self._url = url
        # id -> the generation and turns this process knows Redis holds, and the meta (as stored)
        # when it knows that too
        self._cache: OrderedDict[str, tuple[str, list[Turn], bytes | None]] = OrderedDict()
        self._guard = threading.Lock()
        self._lock_and_read = self.client.register_script(LOCK_AND_READ)
        self._save_and_unlock = self.client.register_script(SAVE_AND_UNLOCK)
        self._unlock = self.client.register_script(UNLOCK)
        self._renewer = LockRenewer(self.client.register_script(RENEW), lock_ttl_s)
        # (session id, thread) -> the token of the lock that thread holds on the session
        self._held: dict[tuple[str, int], str] = {}

    def _meta(self, session_id: str) -> str:
        return f"{self.prefix}:m:{session_id}"

    def _turns(self, session_id: str) -> str:
        return f"{self.prefix}:t:{session_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:idx"

    def _forget(self, session_id: str) -> None:
        with self._guard:
            known = self._cache.pop(session_id, None) is not None
        if known:
            self._dropped([session_id])

    def _cached(self, session_id: str) -> tuple[str, list[Turn], bytes | None]:
        with self._guard:
            return self._cache.get(session_id, ("", [], None))

    def _remember(
        self, session_id: str, generation: str, history: list[Turn], meta: bytes | None = None
    ) -> None:
        """Keep the history this process knows Redis holds for a session (a copy of the list:
        callers change theirs), and its meta as Redis stores it where that is known and small
        (a seed state can be a megabyte: a thousand of those are not kept for one round trip)."""
        if meta is not None and len(meta) > CACHED_META_MAX:
            meta = None
        pushed_out: list[str] = []
        with self._guard:
            self._cache[session_id] = (generation, list(history), meta)
            self._cache.move_to_end(session_id)
            while len(self._cache) > self.max_sessions:
                pushed_out.append(self._cache.popitem(last=False)[0])
        if pushed_out:
            self._dropped(pushed_out)

    def ping(self) -> None:
        """Fail early, with the URL (never its password), when Redis cannot be reached."""
        try:
            self.client.ping()
        except RedisError as exc:
            where = url_without_credentials(self._url)
            raise StoreError(f"cannot reach Redis at {where}: {exc}") from None

    def _evict(self, now: int) -> None:
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self._index, "-inf", now - self.ttl_ms * 1000)
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

    @unavailable
    def create(self, task: str, state: EnvState | None = None) -> Session:
        session = Session(id=uuid.uuid4().hex, task=task, state=state or EnvState())
        now = now_us()
        meta = SessionMeta(
            task=task,
            state=session.state,
            generation=uuid.uuid4().hex,
            turns=0,
            created_at=session.created_at,
        )
        stored = meta.model_dump_json().encode()
        pipe = self.client.pipeline()
        pipe.set(self._meta(session.id), stored, px=self.ttl_ms)
        pipe.zadd(self._index, {session.id: now})
        pipe.execute()
        self._remember(session.id, meta.generation, [], stored)
        self._evict(now)
        return session

    def _missing(self, session_id: str) -> SessionNotFoundError:
        self._forget(session_id)
        self.client.zrem(self._index, session_id)
        return SessionNotFoundError.missing(session_id)

    @unavailable
    def get(self, session_id: str) -> Session:
        generation, cached, _ = self._cached(session_id)
        pipe = self.client.pipeline(transaction=False)  # one round trip, no MULTI/EXEC
        pipe.get(self._meta(session_id))
        pipe.lrange(self._turns(session_id), len(cached), -1)
        pipe.pexpire(self._meta(session_id), self.ttl_ms)
        pipe.pexpire(self._turns(session_id), self.ttl_ms)
        pipe.zadd(self._index, {session_id: now_us()}, xx=True)
        raw, added, *_ = pipe.execute()
        if raw is None:
            raise self._missing(session_id)
        return self._session(session_id, raw, added, generation, cached)

    def _session(
        self, session_id: str, raw: bytes, added: list[Any], generation: str, cached: list[Turn]
    ) -> Session:
        """The session from its meta and the turns read after the `cached` ones."""
        meta = SessionMeta.model_validate_json(raw)
        # Rewritten since this process cached it: read it all (with nothing cached, the read
        # already did).
        if cached and meta.generation != generation:
            cached = []
            added = self.client.lrange(self._turns(session_id), 0, -1)  # type: ignore[assignment]
        history = cached + [Turn.model_validate_json(item) for item in added]
        del history[meta.turns :]  # turns a save is still writing
        self._remember(session_id, meta.generation, history, raw)
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

    def _prepared(self, session: Session) -> tuple[SessionMeta, list[Turn], bool]:
        generation, cached, _ = self._cached(session.id)
        return saved_meta(session, generation, cached)

    @unavailable
    def save(self, session: Session) -> None:
        meta, new, appended = self._prepared(session)
        generation = meta.generation
        token = self._held.pop((session.id, threading.get_ident()), None)
        stored = meta.model_dump_json().encode()
        if token is not None:  # inside `locked`: write and unlock in one script
            keys, args = self._save_call(session, stored, new, appended, token)
            self._saved(session, self._save_and_unlock(keys=keys, args=args))
            self._remember(session.id, generation, session.history, stored)
            return
        pipe = self.client.pipeline()  # MULTI/EXEC: readers see all of it or none
        # xx: only an existing session is written, so a step racing an eviction cannot revive it.
        pipe.set(self._meta(session.id), stored, px=self.ttl_ms, xx=True)
        if not appended:
            pipe.delete(self._turns(session.id))
        if new:
            pipe.rpush(self._turns(session.id), *(turn.model_dump_json() for turn in new))
        pipe.pexpire(self._turns(session.id), self.ttl_ms)
        pipe.zadd(self._index, {session.id: now_us()}, xx=True)
        written, *_ = pipe.execute()
        if not written:
            self.client.delete(self._turns(session.id))
            raise self._missing(session.id)
        self._remember(session.id, generation, session.history, stored)

    def _save_call(
        self, session: Session, stored: bytes, new: list[Turn], appended: bool, token: str
    ) -> tuple[list[str], list[Any]]:
        """The SAVE_AND_UNLOCK script's keys and arguments for one step (`stored`: the meta)."""
        keys = self._write_keys(session.id)
        args = [
            token,
            stored,
            "0" if appended else "1",
            self.ttl_ms,
            now_us(),
            session.id,
            *(turn.model_dump_json() for turn in new),
        ]
        return keys, args

    def _saved(self, session: Session, done: Any) -> None:
        """Raise for what SAVE_AND_UNLOCK answered, unless it saved."""
        if done == -1:
            raise self._missing(session.id)
        if done == -2:
            self._forget(session.id)
            raise StoreError(
                f"session '{session.id}' was not saved: its lock expired during the step "
                "(the process stalled past its TTL); retry the step"
            )

    def _lock(self, session_id: str) -> str:
        return f"{self.prefix}:lock:{session_id}"

    def _write_keys(self, session_id: str) -> list[str]:
        """The keys a script that writes a step names first: meta, turns, index, lock."""
        lock = self._lock(session_id)
        return [self._meta(session_id), self._turns(session_id), self._index, lock]

    @unavailable
    def delete(self, session_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self._meta(session_id), self._turns(session_id))
        pipe.zrem(self._index, session_id)
        deleted, _ = pipe.execute()
        self._forget(session_id)
        if not deleted:
            raise SessionNotFoundError.missing(session_id, expired=False)

    @contextmanager
    def locked(self, session_id: str) -> Iterator[Session]:
        """Hold the session's Redis lock for a read-modify-write; yields the current session.

        The lock has an owner token and a TTL of `lock_ttl_s`, renewed while the block runs, so
        a lock whose worker died frees itself within seconds. Taking it reads the session in the
        same round trip; `save` inside the block writes and releases it in one more."""
        token = uuid.uuid4().hex
        key = self._lock(session_id)
        session = self._lock_reading(session_id, key, token)
        held = (session_id, threading.get_ident())
        self._held[held] = token
        self._renewer.hold(key, token)
        try:
            yield session
        finally:
            self._renewer.drop(key)
            if self._held.pop(held, None) is not None:  # not saved: release it
                try:
                    self._unlock(keys=[key], args=[token])
                except RedisError:
                    pass  # Redis went; the lock's TTL frees it

    @unavailable
    def _lock_reading(self, session_id: str, key: str, token: str) -> Session:
        generation, cached, _ = self._cached(session_id)
        deadline = time.monotonic() + self.lock_timeout_s
        keys = [key, self._meta(session_id), self._turns(session_id), self._index]
        lock_ms = int(self.lock_ttl_s * 1000)
        while True:
            reply = self._lock_and_read(
                keys=keys, args=[token, lock_ms, len(cached), self.ttl_ms, now_us(), session_id]
            )
            if self._acquired(reply, session_id, deadline):
                break
            time.sleep(LOCK_RETRY_S)
        try:
            return self._session(session_id, reply[1], reply[2], generation, cached)
        except BaseException:
            self._unlock(keys=[key], args=[token])
            raise

    def _acquired(self, reply: Any, session_id: str, deadline: float) -> bool:
        """Whether LOCK_AND_READ took the lock; raises when the session is gone or stays busy."""
        if reply[0] == 1:
            return True
        if reply[0] == -1:
            self._forget(session_id)
            raise SessionNotFoundError.missing(session_id)
        if time.monotonic() > deadline:
            raise StoreError(f"session '{session_id}' is busy: its lock was not released in time")
        return False

    @unavailable
    def __len__(self) -> int:
        self._evict(now_us())
        return int(self.client.zcard(self._index))

"""Where live sessions are kept: in memory, bounded in count and idle time.

Each session has its own lock, so steps on one session are serialised while different sessions
step in parallel.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Protocol

from wmh.core.types import EnvState, Session
from wmh.errors import SessionNotFoundError

LOCK_POLL_S = 0.001  # how often a coroutine waiting for a busy session looks again


class SessionStore(Protocol):
    def create(self, task: str, state: EnvState | None = None) -> Session:
        """A new session for `task`, starting from `state` (the seed state) when given."""
        ...

    def get(self, session_id: str) -> Session: ...

    def save(self, session: Session) -> None: ...

    def delete(self, session_id: str) -> None: ...

    def locked(self, session_id: str) -> AbstractContextManager[Session]: ...


class DropListeners:
    """`on_drop(listener)` for a session store: `_dropped(ids)` calls each listener with each id
    (a store calls it outside its own lock)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def on_drop(self, listener: Callable[[str], None]) -> None:
        """Call `listener(session_id)` for each session the store lets go of from now on."""
        self._listeners.append(listener)

    def _dropped(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            for listener in self._listeners:
                listener(session_id)


class InMemorySessionStore(DropListeners):
    """Sessions in a dict; the least recently used is evicted past `max_sessions` or `ttl_s`.

    `clock` gives the idle time in seconds (monotonic by default; a test passes its own).
    `on_drop(listener)` has `listener(session_id)` called for each session the store lets go of
    (deleted, evicted or expired), outside the store's lock."""

    def __init__(
        self,
        max_sessions: int = 1024,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: OrderedDict[str, tuple[Session, float]] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _evict(self, now: float) -> list[str]:
        """Let go of the sessions past the cap or the TTL (under `_guard`); answers their ids,
        for `_dropped` once the guard is released."""
        evicted: list[str] = []
        while self._sessions:
            oldest_id, (_, touched) = next(iter(self._sessions.items()))
            if len(self._sessions) <= self.max_sessions and now - touched <= self.ttl_s:
                break
            self._sessions.pop(oldest_id)
            self._locks.pop(oldest_id, None)
            evicted.append(oldest_id)
        return evicted

    def create(self, task: str, state: EnvState | None = None) -> Session:
        seeded = state.model_copy(deep=True) if state else EnvState()
        session = Session(id=uuid.uuid4().hex, task=task, state=seeded)
        with self._guard:
            now = self._clock()
            self._sessions[session.id] = (session, now)
            self._locks[session.id] = threading.Lock()
            evicted = self._evict(now)
        self._dropped(evicted)
        return session

    def get(self, session_id: str) -> Session:
        with self._guard:
            now = self._clock()
            evicted = self._evict(now)
            entry = self._sessions.get(session_id)
            if entry is not None:
                self._sessions[session_id] = (entry[0], now)
                self._sessions.move_to_end(session_id)
        if evicted:
            self._dropped(evicted)
        if entry is None:
            raise SessionNotFoundError.missing(session_id)
        return entry[0]

    def save(self, session: Session) -> None:
        with self._guard:
            if session.id not in self._sessions:
                raise SessionNotFoundError.missing(session.id)
            self._sessions[session.id] = (session, self._clock())

    def delete(self, session_id: str) -> None:
        with self._guard:
            if self._sessions.pop(session_id, None) is None:
                raise SessionNotFoundError.missing(session_id, expired=False)
            self._locks.pop(session_id, None)
        self._dropped([session_id])

    def busy(self, session_id: str) -> bool:
        """Whether a step holds the session's lock now (False for an unknown session)."""
        lock = self._locks.get(session_id)
        return lock is not None and lock.locked()

    @contextmanager
    def locked(self, session_id: str) -> Iterator[Session]:
        """Hold the session's lock for a read-modify-write; yields the current session."""
        with self._guard:
            lock = self._locks.get(session_id)
        if lock is None:
            raise SessionNotFoundError.missing(session_id)
        with lock:
            yield self.get(session_id)

    @asynccontextmanager
    async def alocked(self, session_id: str) -> AsyncIterator[Session]:
        """`locked` for a coroutine: waiting for the lock yields to the event loop instead of
        blocking it (the holder may be another coroutine awaiting its provider)."""
        with self._guard:
            lock = self._locks.get(session_id)
        if lock is None:
            raise SessionNotFoundError.missing(session_id)
        while not lock.acquire(blocking=False):  # taken only between two awaits: no leak
            await asyncio.sleep(LOCK_POLL_S)
        try:
            yield self.get(session_id)
        finally:
            lock.release()

    async def asave(self, session: Session) -> None:
        """`save`, for a coroutine (nothing here waits)."""
        self.save(session)

    def __len__(self) -> int:
        return len(self._sessions)

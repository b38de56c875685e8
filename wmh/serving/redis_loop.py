"""Redis sessions stepped on the event loop: a step's two round trips awaited over an asyncio
client, with the keys, scripts, turn cache and lock renewal of `redis_store.py` (whose blocking
client still makes the rare full read of a history another process rewrote)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from wmh.core.types import Session
from wmh.errors import StoreError
from wmh.serving.redis_meta import now_us, store_unavailable
from wmh.serving.redis_scripts import LOCK_AND_READ, SAVE_AND_UNLOCK, UNLOCK
from wmh.serving.redis_store import LOCK_RETRY_S, RedisSessionStore


class _LoopClient:
    """An asyncio Redis client and its scripts, for the event loop it was made on."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.get_running_loop()
        # One retry, on a new connection: a pooled connection the server closed while it was
        # idle (Redis's `timeout`, a restart, a proxy) fails on its first use, and the asyncio
        # client neither retries nor (as the blocking one does) finds it closed beforehand. Not
        # after a timeout: the script may have run, and run again it would find its lock gone.
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        self.client = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, retry=retry
        )
        self.lock_and_read = self.client.register_script(LOCK_AND_READ)
        self.save_and_unlock = self.client.register_script(SAVE_AND_UNLOCK)
        self.unlock = self.client.register_script(UNLOCK)


class LoopRedisSessionStore(RedisSessionStore):
    """A Redis session store whose steps may also be awaited (`alocked`, `asave`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_client: _LoopClient | None = None
        # (session id, task) -> the token of the lock that task holds on the session
        self._held_by_task: dict[tuple[str, int], str] = {}

    def _on_loop(self) -> _LoopClient:
        current = self._loop_client
        if current is None or current.loop is not asyncio.get_running_loop():
            current = self._loop_client = _LoopClient(self._url)
        return current

    @asynccontextmanager
    async def alocked(self, session_id: str) -> AsyncIterator[Session]:
        """`locked` for a coroutine: the same lock, taken and read in one awaited round trip;
        `asave` inside the block writes the step and releases it in one more."""
        token = uuid.uuid4().hex
        key = self._lock(session_id)
        session = await self._alock_reading(session_id, key, token)
        held = (session_id, id(asyncio.current_task()))
        self._held_by_task[held] = token
        self._renewer.hold(key, token)
        try:
            yield session
        finally:
            self._renewer.drop(key)
            if self._held_by_task.pop(held, None) is not None:  # not saved: release it
                try:
                    await self._on_loop().unlock(keys=[key], args=[token])
                except (RedisError, OSError):
                    pass  # Redis went; the lock's TTL frees it

    async def asave(self, session: Session) -> None:
        """`save` for a coroutine inside `alocked`: write the step and unlock, one round trip."""
        token = self._held_by_task.pop((session.id, id(asyncio.current_task())), None)
        if token is None:
            raise StoreError(f"session '{session.id}' is saved on the loop only inside alocked")
        meta, new, appended = self._prepared(session)
        keys, args = self._save_call(session, meta, new, appended, token)
        try:
            done = await self._on_loop().save_and_unlock(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise store_unavailable(self._url, exc) from None
        try:
            self._saved(session, done)
        except (RedisError, OSError) as exc:  # a session found gone is unindexed (blocking)
            raise store_unavailable(self._url, exc) from None
        self._remember(session.id, meta.generation, session.history)

    async def _alock_reading(self, session_id: str, key: str, token: str) -> Session:
        with self._guard:
            generation, cached = self._cache.get(session_id, ("", []))
        deadline = time.monotonic() + self.lock_timeout_s
        keys = [key, self._meta(session_id), self._turns(session_id), self._index]
        lock_ms = int(self.lock_ttl_s * 1000)
        scripts = self._on_loop()
        try:
            while True:
                args: list[str | int] = [
                    token, lock_ms, len(cached), self.ttl_ms, now_us(), session_id
                ]  # fmt: skip
                reply = await scripts.lock_and_read(keys=keys, args=args)
                if self._acquired(reply, session_id, deadline):
                    break
                await asyncio.sleep(LOCK_RETRY_S)
        except (RedisError, OSError) as exc:
            raise store_unavailable(self._url, exc) from None
        try:
            return self._session(session_id, reply[1], reply[2], generation, cached)
        except BaseException as exc:
            try:
                await scripts.unlock(keys=[key], args=[token])
            except (RedisError, OSError):
                pass  # the lock's TTL frees it
            if isinstance(exc, RedisError | OSError):
                raise store_unavailable(self._url, exc) from None
            raise

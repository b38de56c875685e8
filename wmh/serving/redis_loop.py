"""Redis sessions stepped on the event loop: a step's round trips awaited over an asyncio client,
with the keys, scripts, turn cache and lock renewal of `redis_store.py` (whose blocking client
still makes the rare full read of a history another process rewrote).

A step on a session this process saw last (one worker, or an agent that keeps its connection)
takes one round trip: `astep_unchanged` computes it on the session as the process left it and
writes it only if Redis still holds exactly that session, unlocked; else nothing is written and
the step is taken again under the lock, on the session as Redis holds it (two round trips). Where
that keeps happening (workers sharing an agent's steps at random), the process stops trying and
locks first, until the sessions it locks are again mostly as it left them."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from wmh.core.types import Session
from wmh.errors import SessionNotFoundError, StoreError
from wmh.serving.redis_meta import now_us, saved_meta, store_unavailable
from wmh.serving.redis_scripts import LOCK_AND_READ, SAVE_AND_UNLOCK, STEP_IF_UNCHANGED, UNLOCK
from wmh.serving.redis_store import LOCK_RETRY_S, RedisSessionStore

T = TypeVar("T")

SOCKET_TIMEOUT_S = 5
# A one-trip step Redis runs later than this after it was sent is refused: it waited in a stalled
# server, and the client may have given up on it (a 503). (Run in time, its answer may still be
# late past the client's timeout, as a two-trip step's write may: a 503 that may have been applied.)
REFUSED_AFTER_S = SOCKET_TIMEOUT_S / 2
# Redis's clock this far ahead of ours when it answers that it refused a step as late: the clocks
# disagree, and every one-trip step would be refused.
SKEW_US = 1_000_000
# How long a one-trip step's write is remembered, so the client's one resend of it (within its
# timeout) finds it written.
MARKER_TTL_MS = 2 * SOCKET_TIMEOUT_S * 1000

# Steps try one round trip while fewer than this share of the sessions this process steps were
# changed by another process since it last saw them (a moving average over about 20 steps).
CHANGED_LIMIT = 0.25
CHANGED_WEIGHT = 0.05


class ChangeRate:
    """How often a session this process steps was changed elsewhere since this process last saw
    it: when that is often, computing a step before knowing is mostly wasted work."""

    def __init__(self) -> None:
        self.rate = 0.0

    def saw(self, changed: bool) -> None:
        self.rate += CHANGED_WEIGHT * (float(changed) - self.rate)

    @property
    def worth_trying(self) -> bool:
        return self.rate < CHANGED_LIMIT


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
            url, socket_connect_timeout=2, socket_timeout=SOCKET_TIMEOUT_S, retry=retry
        )
        self.lock_and_read = self.client.register_script(LOCK_AND_READ)
        self.save_and_unlock = self.client.register_script(SAVE_AND_UNLOCK)
        self.unlock = self.client.register_script(UNLOCK)
        self.step_if_unchanged = self.client.register_script(STEP_IF_UNCHANGED)


class LoopRedisSessionStore(RedisSessionStore):
    """A Redis session store whose steps may also be awaited (`alocked`, `asave`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_client: _LoopClient | None = None
        # (session id, task) -> the token of the lock that task holds on the session
        self._held_by_task: dict[tuple[str, int], str] = {}
        self.changes = ChangeRate()
        self.clock_skewed = False

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
        stored = meta.model_dump_json().encode()
        keys, args = self._save_call(session, stored, new, appended, token)
        try:
            done = await self._on_loop().save_and_unlock(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise store_unavailable(self._url, exc) from None
        try:
            self._saved(session, done)
        except (RedisError, OSError) as exc:  # a session found gone is unindexed (blocking)
            raise store_unavailable(self._url, exc) from None
        self._remember(session.id, meta.generation, session.history, stored)

    async def astep_unchanged(
        self, session_id: str, step: Callable[[Session], T]
    ) -> tuple[T, Session] | None:
        """`step` (which changes the session it is given, as a step inside `alocked` does) on
        the session as this process last read or wrote it, saved in one round trip if Redis
        still holds exactly that session and no one holds its lock: (what `step` returned, the
        session). None, with nothing written, when it does not, or `step` raised (the caller
        steps under the lock, on the session as Redis holds it), when this process does not know
        the session, or when sessions here were often changed elsewhere lately. `step` must be
        cheap to run twice: replay, not a provider call."""
        generation, cached, raw = self._cached(session_id)
        if raw is None or not self.changes.worth_trying or self.clock_skewed:
            return None
        session = self._session(session_id, raw, [], generation, cached)
        try:
            result = step(session)
        except Exception:  # noqa: BLE001 - decided on the session as Redis holds it
            return None  # (a session deleted meanwhile is a 404, not the 413 of its old copy)
        meta, new, appended = saved_meta(session, generation, cached)
        if not appended:
            return None
        stored = meta.model_dump_json().encode()
        keys = [*self._write_keys(session_id), f"{self.prefix}:w:{meta.revision}"]
        now = now_us()
        deadline = now + int(REFUSED_AFTER_S * 1_000_000)
        args: list[bytes | str | int] = [
            hashlib.sha1(raw).hexdigest(), stored, self.ttl_ms, now, session_id, deadline,
            MARKER_TTL_MS,
        ]  # fmt: skip
        args += [turn.model_dump_json() for turn in new]
        try:
            reply = await self._on_loop().step_if_unchanged(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise store_unavailable(self._url, exc) from None
        if reply[0] == -1:
            self._forget(session_id)
            raise SessionNotFoundError.missing(session_id)
        if reply[0] == -2:
            # Run late: a stalled Redis, or one whose clock runs ahead of this host's, which
            # would refuse every such step; only the second is told by its clock at our answer.
            redis_now = int(reply[1]) * 1_000_000 + int(reply[2])
            self.clock_skewed = redis_now - now_us() > SKEW_US
        if reply[0] != 1:
            return None  # the lock's read tells `changes` what it found
        self.changes.saw(False)
        self._remember(session_id, generation, session.history, stored)
        return result, session

    async def _alock_reading(self, session_id: str, key: str, token: str) -> Session:
        generation, cached, known = self._cached(session_id)
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
        if known is not None:
            self.changes.saw(reply[1] != known)
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

"""What a Redis session keeps beside its turns, the error Redis failing becomes, and the clock
of its last-use index."""

from __future__ import annotations

import functools
import operator
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from wmh.core.secrets import url_without_credentials
from wmh.core.types import EnvState, EpisodeScore, Session, Turn, UsageTotals
from wmh.errors import StoreError


class SessionMeta(BaseModel):
    """A session's task, state, usage and score, with its history's length and generation: a
    history that is rewritten rather than appended to gets a new generation, so every process
    reads it anew. Every save gets a new revision, so two metas alike are one save (two steps of
    the same size on one turn would otherwise write the same meta)."""

    task: str = ""
    state: EnvState
    generation: str
    turns: int
    created_at: float = 0.0
    usage: dict[str, UsageTotals] = Field(default_factory=dict)
    score: EpisodeScore | None = None
    size_bytes: int = 0
    revision: str = ""


F = TypeVar("F", bound=Callable[..., Any])


def unavailable(method: F) -> F:
    """Redis failing (down, unreachable, timing out) is a StoreError naming the server, which
    the HTTP layer answers 503 with Retry-After; the session itself is untouched."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise store_unavailable(self._url, exc) from None

    return wrapper  # type: ignore[return-value]


def store_unavailable(url: str, exc: Exception) -> StoreError:
    return StoreError(
        f"the session store is unavailable (Redis at {url_without_credentials(url)}: "
        f"{type(exc).__name__}); retry shortly"
    )


def now_us() -> int:
    """The index's score: last use in microseconds (milliseconds tie: a session created and
    used within one millisecond would have no least recently used order)."""
    return time.time_ns() // 1000


def saved_meta(
    session: Session, generation: str, cached: list[Turn]
) -> tuple[SessionMeta, list[Turn], bool]:
    """What saving a session writes, given the generation and turns this process knows Redis
    holds: its meta, the turns Redis lacks, and whether they are appended (or the history
    rewritten, under a new generation)."""
    appended = bool(
        generation
        and len(session.history) >= len(cached)
        and all(map(operator.is_, cached, session.history))
    )
    meta = SessionMeta(
        task=session.task,
        state=session.state,
        generation=generation if appended else uuid.uuid4().hex,
        turns=len(session.history),
        created_at=session.created_at,
        usage=session.usage,
        score=session.score,
        size_bytes=session.size_bytes,
        revision=uuid.uuid4().hex,
    )
    return meta, session.history[len(cached) :] if appended else session.history, appended

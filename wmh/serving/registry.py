"""What one server holds: the world models it answers for, by name, each with its card and its
session store (memory, or Redis when several workers or replicas serve one model)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from wmh.config.schema import ServeConfig
from wmh.core.reward import RewardJudge
from wmh.core.types import Action, EnvState, Observation
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import InMemorySessionStore, SessionStore
from wmh.engine.world_model import SessionLimits, WorldModel
from wmh.errors import ConfigError, ModelNotFoundError, ServerBusyError
from wmh.serving.settings import check_serve_config
from wmh.store.card import ModelCard, read_card
from wmh.store.loader import load_world_model
from wmh.store.store import WorldModelStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# A request body at least this large is worked off the event loop even where the model's calls
# run on it: validating and storing 1 MB of small JSON values takes most of a second, which
# every other request on the server would otherwise wait out.
INLINE_BODY_BYTES = 64 * 1024


@dataclass
class Registry:
    """The world models one server answers for, by name."""

    models: dict[str, WorldModel] = field(default_factory=dict)
    cards: dict[str, ModelCard] = field(default_factory=dict)
    inline: dict[str, bool] = field(default_factory=dict)
    max_body_bytes: int = ServeConfig.max_body_bytes
    max_body_items: int = ServeConfig.max_body_items
    threads: int = ServeConfig.threads
    max_waiting: int = ServeConfig.max_waiting
    # Calls running in or waiting for a worker thread, or awaiting their provider on the loop.
    blocking_now: int = 0

    def add(self, model: WorldModel, card: ModelCard) -> None:
        self.models[model.name] = model
        self.cards[model.name] = card
        # Replay over in-memory sessions never waits on I/O and takes about a millisecond: it
        # runs on the event loop. Other steps are awaited there too (`step`: an LLM awaits its
        # provider, Redis its round trips) when the model can; the rest go to worker threads.
        self.inline[model.name] = isinstance(model.predictor, ReplayPredictor) and isinstance(
            model.sessions, InMemorySessionStore
        )

    async def run(self, name: str, call: Callable[[WorldModel], T], blocking: bool = False) -> T:
        """`call(model)` on the event loop or in a worker thread, as the model needs (always a
        thread when the call itself may wait, as a reward judge's LLM call does, or is long:
        `blocking` for a request body of `INLINE_BODY_BYTES` or more)."""
        model = self.get(name)
        if self.inline[name] and not blocking:
            return call(model)
        with self._admitted():
            return await run_in_threadpool(call, model)

    async def off_loop(self, call: Callable[[], T]) -> T:
        """`call()` in a worker thread, counted against `serve.threads` + `serve.max_waiting`
        (a large body's validation, which names no model yet)."""
        with self._admitted():
            return await run_in_threadpool(call)

    async def step(
        self, name: str, session_id: str, action: Action, large: bool = False
    ) -> tuple[Observation, EnvState]:
        """One step of a session: on the event loop when the model awaits its provider there
        (`steps_on_loop`: an LLM, or Redis sessions), else as `run` places it (a `large` one,
        sent in a body of `INLINE_BODY_BYTES` or more, in a worker thread). An inline step of a
        session that a worker thread is stepping waits for it in a thread too: taking the
        session's lock on the event loop would hold every other request until it was free."""
        model = self.get(name)
        if self.inline[name] or not model.steps_on_loop:
            busy = self.inline[name] and model.sessions.busy(session_id)  # type: ignore[attr-defined]
            return await self.run(
                name, lambda m: m.step_with_state(session_id, action), blocking=large or busy
            )
        with self._admitted():
            return await model.astep_with_state(session_id, action)

    @contextmanager
    def _admitted(self) -> Iterator[None]:
        """Count a call that waits on its provider or a thread; refuse one past the bound."""
        if self.blocking_now >= self.threads + self.max_waiting:
            raise ServerBusyError(
                f"the server is busy: {self.blocking_now} steps are running or waiting for the "
                f"provider (serve.threads={self.threads}, serve.max_waiting={self.max_waiting}); "
                "retry shortly"
            )
        self.blocking_now += 1
        try:
            yield
        finally:
            self.blocking_now -= 1

    def get(self, name: str) -> WorldModel:
        model = self.models.get(name)
        if model is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFoundError(f"no world model '{name}' is served here (served: {served})")
        return model


def session_store(serve: ServeConfig, model: str) -> SessionStore:
    """The session store `serve.session_store` names, for one model."""
    if serve.session_store == "memory":
        return InMemorySessionStore(serve.max_sessions, serve.session_ttl_s)
    if serve.session_store == "redis":
        from wmh.serving.redis_loop import LoopRedisSessionStore

        store = LoopRedisSessionStore(
            serve.redis_url, model, serve.max_sessions, serve.session_ttl_s
        )
        store.ping()
        return store
    raise ConfigError(f"serve.session_store must be memory or redis, got {serve.session_store!r}")


def load_model_dir(
    registry: Registry, model_dir: Path, serve: ServeConfig, reward: RewardJudge | None = None
) -> None:
    """Load one model into `registry` (BentoML's service loads its model so) with `serve`'s
    limits, checked first."""
    check_serve_config(serve)
    card = read_card(model_dir)
    model, _ = load_world_model(model_dir, session_store(serve, card.name))
    model.reward = reward
    model.limits = SessionLimits(serve.max_session_steps, serve.max_session_bytes)
    registry.max_body_bytes = serve.max_body_bytes
    registry.max_body_items = serve.max_body_items
    registry.add(model, card)


def _chosen(store: WorldModelStore, names: list[str]) -> list[str]:
    """The names asked for, else every model of the store that can be served: one that cannot
    (a damaged card, a copy of another model) is named in a warning and left out, as `wmh list`
    leaves it out, rather than keeping the others from being served; an alias (a link to a
    model's folder) is served once, under the model's name."""
    chosen = names
    if not names:
        cards, unreadable = store.read_cards()
        for why in unreadable:
            log.warning("not served: %s", why)
        chosen = list(dict.fromkeys(card.name for card in cards))
    if not chosen:
        raise ModelNotFoundError(
            f"no world models in {store.models_dir}: build one with wmh build --name NAME "
            "--file TRACES, or pass --root"
        )
    return chosen


def check_models(root: str | Path, names: list[str], serve: ServeConfig) -> list[str]:
    """What `load_registry` would serve, checked without loading indexes (cards, Redis)."""
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    for name in chosen:
        read_card(store.resolve(name))
    if serve.session_store == "redis":
        session_store(serve, chosen[0])
    return chosen


def load_registry(
    root: str | Path, names: list[str], serve: ServeConfig, reward: RewardJudge | None = None
) -> Registry:
    """Load the named models of a store (all of them when `names` is empty), each scored by
    `reward` when given."""
    check_serve_config(serve)
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    registry = Registry(
        max_body_bytes=serve.max_body_bytes,
        max_body_items=serve.max_body_items,
        threads=serve.threads,
        max_waiting=serve.max_waiting,
    )
    for name in chosen:
        load_model_dir(registry, store.resolve(name), serve, reward)
    # The server owns its process: what loading made lives as long as it, so the collector
    # stops sweeping it (a full sweep of a loaded model paused one step for 50-140 ms).
    gc.collect()
    gc.freeze()
    return registry

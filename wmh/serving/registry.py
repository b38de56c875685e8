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

from wmh.config.schema import ServeConfig, WmhConfig
from wmh.core.reward import RewardJudge
from wmh.core.types import Action, EnvState, Observation
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import InMemorySessionStore, SessionStore
from wmh.engine.world_model import SessionLimits, WorldModel
from wmh.errors import ConfigError, ModelNotFoundError, ServerBusyError
from wmh.scoring.factory import reward_at
from wmh.serving.settings import ServeSettings, check_serve_config, override_group
from wmh.store.card import ModelCard, read_card
from wmh.store.loader import check_top_k, load_world_model
from wmh.store.settings import eval_overrides, model_settings
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


def served_model(
    model_dir: Path, server: ServeSettings, root: str | Path | None, alone: bool = True
) -> tuple[WmhConfig | None, RewardJudge | None]:
    """A model's settings as served (None: as built) and its reward judge. The overrides of
    `-o provider.*`, `predictor.*` and `retrieval.*` change a model built with an LLM provider
    as `wmh play` changes it, and its LLM judge calls that provider; a replay model's judge
    calls `provider.*` as given. `alone`: no LLM model is served beside a replay model, so the
    overrides are its own, and it refuses those it cannot take (provider settings no judge
    calls, predictor settings, another top_k: taken, they changed nothing); beside an LLM
    model, they are that model's, and a replay model is served as built."""
    card = read_card(model_dir)
    given = list(server.overrides)
    if card.provider == "replay":
        for_judge = [o for o in given if override_group(o) == "provider"]
        if alone and for_judge and server.reward.name != "rubric":
            raise ConfigError(unused_provider(for_judge[0], card.name))
        given = [o for o in given if o not in for_judge] if alone else []
    built = model_settings(model_dir)
    settings = eval_overrides(built, card.name, given, judged=False) if given else None
    if settings is not None:  # (refused here, not in each worker as it loads)
        check_top_k(card, settings.retrieval.top_k)
    judge_provider = server.provider if card.provider == "replay" else (settings or built).provider
    return settings, reward_at(server.reward, judge_provider, Path(root) if root else None)


def unused_provider(override: str, name: str) -> str:
    return (
        f"'{override}': model '{name}' is a replay model, which calls no provider: provider "
        "settings reach only a reward=rubric judge here"
    )


def load_model_dir(
    registry: Registry,
    model_dir: Path,
    serve: ServeConfig,
    reward: RewardJudge | None = None,
    settings: WmhConfig | None = None,
) -> None:
    """Load one model into `registry` (BentoML's service loads its model so) with `serve`'s
    limits, checked first (`settings`: what an override changed of the model's own)."""
    check_serve_config(serve)
    card = read_card(model_dir)
    model, _ = load_world_model(model_dir, session_store(serve, card.name), settings=settings)
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


def check_models(
    root: str | Path, names: list[str], serve: ServeConfig, server: ServeSettings | None = None
) -> list[str]:
    """What `load_registry` would serve, checked without loading indexes (cards, Redis, and
    with `server`, each model's overrides and reward judge)."""
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    for name in chosen:
        read_card(store.resolve(name))
    if server is not None:
        _served(store, chosen, server, root)
    if serve.session_store == "redis":
        session_store(serve, chosen[0])
    return chosen


def _served(
    store: WorldModelStore, chosen: list[str], server: ServeSettings, root: str | Path
) -> dict[str, tuple[WmhConfig | None, RewardJudge | None]]:
    """Each chosen model's `served_model`: the model overrides go to the LLM models served, or,
    with none, to the replay models, which refuse those they cannot take."""
    llm = any(read_card(store.resolve(name)).provider != "replay" for name in chosen)
    return {name: served_model(store.resolve(name), server, root, alone=not llm) for name in chosen}


def load_registry(
    root: str | Path,
    names: list[str],
    serve: ServeConfig,
    reward: RewardJudge | None = None,
    server: ServeSettings | None = None,
) -> Registry:
    """Load the named models of a store (all of them when `names` is empty), each scored by
    `reward` when given; with `server`, each as its overrides change it, scored by its own
    judge (`served_model`)."""
    check_serve_config(serve)
    store = WorldModelStore(root)
    chosen = _chosen(store, names)
    served = _served(store, chosen, server, root) if server is not None else {}
    registry = Registry(
        max_body_bytes=serve.max_body_bytes,
        max_body_items=serve.max_body_items,
        threads=serve.threads,
        max_waiting=serve.max_waiting,
    )
    for name in chosen:
        settings, judge = served.get(name, (None, reward))
        load_model_dir(registry, store.resolve(name), serve, judge, settings)
    # The server owns its process: what loading made lives as long as it, so the collector
    # stops sweeping it (a full sweep of a loaded model paused one step for 50-140 ms).
    gc.collect()
    gc.freeze()
    return registry

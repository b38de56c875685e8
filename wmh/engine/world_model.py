"""The world model: sessions of an agent stepping against a predicted environment.

It owns no prediction logic itself: a `Predictor` (replay or LLM) answers each action, and the
world model keeps each session's history consistent, one step at a time per session. It is also
the seam an RL loop drives: sessions start from a task and a seed state, their usage is metered
by phase, and a reward judge scores a finished episode from its task and history.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wmh.core.reward import RewardJudge
from wmh.core.types import (
    Action,
    EnvState,
    EpisodeScore,
    Observation,
    Session,
    Turn,
    check_action_values,
    seed_state_from,
)
from wmh.engine.predictor import PredictionContext, Predictor
from wmh.engine.replay import ReplayPredictor
from wmh.engine.schemas import infer_tool_schemas
from wmh.engine.sessions import InMemorySessionStore, SessionStore
from wmh.engine.usage import JUDGE, SERVE, UsageRecord, add_phase_usage, observation_usage
from wmh.engine.usage import usage_record as _usage_record
from wmh.errors import ConfigError, ProviderError, SessionFullError
from wmh.retrieval.retriever import Retriever


@dataclass(frozen=True)
class SessionLimits:
    """How large one session may grow (a server sets them from `serve.*`)."""

    max_steps: int | None = None
    max_bytes: int | None = None

    def check(self, session: Session, action: Action) -> int:
        """The action's size in bytes; raises SessionFullError past a cap, InputError for
        arguments no session can hold."""
        check_action_values(action)
        size = len(action.key())
        if self.max_steps is not None and len(session.history) >= self.max_steps:
            raise SessionFullError(
                f"session '{session.id}' has taken {len(session.history)} steps, the most one "
                f"session may (serve.max_session_steps={self.max_steps}); start a new session"
            )
        if self.max_bytes is not None and session.size_bytes + size > self.max_bytes:
            raise SessionFullError(
                f"session '{session.id}' holds {session.size_bytes} bytes and this action adds "
                f"{size}: more than one session may hold (serve.max_session_bytes="
                f"{self.max_bytes}); start a new session"
            )
        return size


def record_usage(session: Session, observation: Observation) -> None:
    """Move the predictor's scratchpad into the session state and add up its usage."""
    scratchpad = observation.metadata.pop("scratchpad", None)
    if isinstance(scratchpad, str):
        session.state.scratchpad = scratchpad
    add_phase_usage(session, SERVE, observation_usage(observation))


def _weakly(method: Callable[[str], None]) -> Callable[[str], None]:
    """`method`, called only while its object lives (not keeping it alive)."""
    held = weakref.WeakMethod(method)

    def call(argument: str) -> None:
        bound = held()
        if bound is not None:
            bound(argument)

    return call


class WorldModel:
    """A named, loaded world model: predictor + retriever + prompt + live sessions, and the
    reward judge that scores them (`reward`, when the model is served or loaded with one)."""

    def __init__(
        self,
        name: str,
        predictor: Predictor,
        retriever: Retriever,
        prompt: str = "",
        sessions: SessionStore | None = None,
        reward: RewardJudge | None = None,
    ) -> None:
        self.name = name
        self.predictor = predictor
        self.retriever = retriever
        self.prompt = prompt
        self.sessions: SessionStore = sessions if sessions is not None else InMemorySessionStore()
        self.reward = reward
        self.limits = SessionLimits()
        self._schemas: dict[str, dict[str, Any]] | None = None
        # A session the store lets go of (ended, evicted past its cap, expired, or pushed out of
        # a Redis worker's own cache) is forgotten by the predictor too.
        # (Through a weak reference: the store must not keep the model, its table and index,
        # alive in a cycle after its last user lets go.)
        on_drop = getattr(self.sessions, "on_drop", None)
        self._store_tells_drops = callable(on_drop)
        if callable(on_drop):
            on_drop(_weakly(self._forget))

    def tools(self) -> set[str]:
        """Tool names the recorded environment answered."""
        return self.retriever.table.tool_names()

    def tool_schemas(self) -> dict[str, dict[str, Any]]:
        """Tool name -> description and argument JSON schema, inferred from the recorded calls
        (computed once)."""
        if self._schemas is None:
            table = self.retriever.table
            self._schemas = infer_tool_schemas(table.steps(range(len(table))))
        return self._schemas

    def new_session(
        self, task: str | None = None, seed_state: EnvState | dict[str, Any] | None = None
    ) -> Session:
        """Start an episode. `task` is what the agent was asked to do; `seed_state` the records
        the environment starts with (`structured`), which the model treats as already shown."""
        return self.sessions.create(task or "", seed_state_from(seed_state))

    def session(self, session_id: str) -> Session:
        return self.sessions.get(session_id)

    def session_usage(self, session_id: str) -> UsageRecord:
        """Steps, tokens, cost and provider time so far, the world model's and the judge's
        apart, and the wall time since the session started."""
        return _usage_record(self.sessions.get(session_id))

    def end_session(self, session_id: str) -> UsageRecord:
        """Forget the session; answers its final usage record."""
        record = self.session_usage(session_id)
        self.sessions.delete(session_id)
        if not self._store_tells_drops:  # (one that does has told `_forget` already)
            self._forget(session_id)
        return record

    def _forget(self, session_id: str) -> None:
        """Have the predictor drop what it keeps of a session that is gone."""
        forget = getattr(self.predictor, "forget", None)  # (a plug-in predictor may keep none)
        if callable(forget):
            forget(session_id)

    def close_session(self, session_id: str) -> None:
        self.end_session(session_id)

    def score_session(self, session_id: str, judge: RewardJudge | None = None) -> EpisodeScore:
        """Grade the episode so far with `judge` (default: the model's reward judge) from its
        task and history alone. The judge's cost is metered on the session, the score is kept
        with it and set as the reward of its last observation."""
        judge = judge or self.reward
        if judge is None:
            self.session(session_id)  # an unknown session is that first (404), not no judge
            raise ConfigError(
                f"world model '{self.name}' has no reward judge: serve or load it with "
                "reward=rubric (an LLM grades the episode) or reward=success (the example's "
                "own check), or pass one to score_session"
            )
        with self.sessions.locked(session_id) as session:
            try:
                verdict = judge.judge(session.task, session.history)
            except ProviderError as exc:
                # A judge call answered but unusable was still made: the session meters it.
                spent = getattr(exc, "usage", None)
                if spent is not None:
                    add_phase_usage(session, JUDGE, spent)
                    self.sessions.save(session)
                raise
            score = EpisodeScore(
                reward=min(1.0, max(0.0, verdict.episode)),
                success=verdict.succeeded,
                step_rewards=list(verdict.steps),
                critique=verdict.critique,
            )
            add_phase_usage(session, JUDGE, verdict.usage)
            session.score = score
            if session.history:
                last = session.history[-1]
                session.history[-1] = Turn(
                    action=last.action,
                    observation=last.observation.model_copy(update={"reward": score.reward}),
                )
            self.sessions.save(session)
        return score

    def predict(
        self, session: Session, action: Action, exclude_trace: str | None = None
    ) -> Observation:
        """Predict an observation without changing the session (used by evaluation)."""
        return self.predictor.predict(PredictionContext(session, action, exclude_trace))

    def step(self, session_id: str, action: Action) -> Observation:
        """Apply an action to a session and return the predicted observation."""
        return self.step_with_state(session_id, action)[0]

    def step_with_state(self, session_id: str, action: Action) -> tuple[Observation, EnvState]:
        """`step`, with the session's state after it (what the step route answers)."""
        if not isinstance(action, Action):
            action = Action.model_validate(action)
        with self.sessions.locked(session_id) as session:
            observation = self._step_on(session, action)
            self.sessions.save(session)
        return observation, session.state

    @property
    def steps_on_loop(self) -> bool:
        """Whether `astep_with_state` steps without blocking the event loop: the sessions can be
        awaited (in memory, or Redis over its asyncio client) and the predictor awaits its
        provider or, as replay does, answers from memory."""
        awaitable = hasattr(self.sessions, "alocked") and hasattr(self.sessions, "asave")
        quick = hasattr(self.predictor, "apredict") or isinstance(self.predictor, ReplayPredictor)
        return awaitable and quick

    async def astep_with_state(
        self, session_id: str, action: Action
    ) -> tuple[Observation, EnvState]:
        """`step_with_state` for a coroutine (`steps_on_loop` models): steps of one session
        wait for each other, steps of different sessions await their providers together."""
        if not self.steps_on_loop:
            raise TypeError(f"world model '{self.name}' does not step on the event loop")
        store: Any = self.sessions
        if not isinstance(action, Action):
            action = Action.model_validate(action)
        apredict = getattr(self.predictor, "apredict", None)
        unchanged = getattr(store, "astep_unchanged", None)
        if apredict is None and unchanged is not None:  # replay: cheap to step again if need be
            done = await unchanged(session_id, lambda session: self._step_on(session, action))
            if done is not None:
                observation, session = done
                return observation, session.state
        async with store.alocked(session_id) as session:
            if apredict is None:
                observation = self._step_on(session, action)
            else:
                size = self.limits.check(session, action)
                observation = await apredict(PredictionContext(session, action))
                self._record(session, action, observation, size)
            await store.asave(session)
        return observation, session.state

    def _step_on(self, session: Session, action: Action) -> Observation:
        """One step of a predictor that answers at once, into `session` (saved by the caller)."""
        size = self.limits.check(session, action)
        observation = self.predictor.predict(PredictionContext(session, action))
        self._record(session, action, observation, size)
        return observation

    def _record(
        self, session: Session, action: Action, observation: Observation, size: int
    ) -> None:
        """The step into the session (saved by the caller)."""
        record_usage(session, observation)
        session.history.append(Turn(action=action, observation=observation))
        session.size_bytes += size + len(observation.content)

"""The `Env` protocol and its two kinds: a world model session, and a real tool environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from wmh.core.types import Action, ActionKind, EnvState, EpisodeScore, Observation
from wmh.engine.usage import UsageRecord
from wmh.engine.world_model import WorldModel
from wmh.errors import ConfigError, WmhError


class Env(Protocol):
    """One episode at a time: `reset(task)`, then `step(action)` until done, then `close()`."""

    def reset(self, task: str = "", seed_state: EnvState | None = None) -> EnvState: ...

    def step(self, action: Action) -> Observation: ...

    def close(self) -> None: ...

    def tools(self) -> dict[str, dict[str, Any]]: ...


def _no_judge(wm: WorldModel) -> str:
    return (
        f"world model '{wm.name}' has no reward judge to score episodes with: load or serve it "
        "with reward=rubric or reward=success (or set wm.reward)"
    )


class WorldModelEnv:
    """An episode is a session of the world model; `reset` starts a fresh one (from a seed
    state, when given). Closing ends the session and keeps its final usage record (`usage`);
    with `score_on_close`, the model's reward judge scores the episode first (`last_score`)."""

    def __init__(self, wm: WorldModel, score_on_close: bool = False) -> None:
        if score_on_close and wm.reward is None:
            raise ConfigError(_no_judge(wm))
        self.wm = wm
        self.score_on_close = score_on_close
        self.session_id: str | None = None
        self.usage: UsageRecord | None = None
        self.last_score: EpisodeScore | None = None

    def reset(self, task: str = "", seed_state: EnvState | None = None) -> EnvState:
        self.close()
        session = self.wm.new_session(task, seed_state)
        self.session_id = session.id
        self.last_score = None
        return session.state

    def step(self, action: Action) -> Observation:
        if self.session_id is None:
            raise WmhError("step before reset: call env.reset(task) first")
        return self.wm.step(self.session_id, action)

    @property
    def can_score(self) -> bool:
        """Whether `score` has a reward judge to ask."""
        return self.wm.reward is not None

    def score(self) -> EpisodeScore:
        """The model's reward judge on the episode so far."""
        if self.session_id is None:
            raise WmhError("score before reset: call env.reset(task) first")
        self.last_score = self.wm.score_session(self.session_id)
        return self.last_score

    def close(self) -> None:
        """End the episode (scored first with `score_on_close`). The session ends even when
        the judge fails, whose error is raised after: the env was left holding the session,
        and every later `reset` failed on closing it again."""
        if self.session_id is not None:
            try:
                if self.score_on_close:
                    self.score()
            finally:
                self.usage = self.wm.end_session(self.session_id)
                self.session_id = None

    def tools(self) -> dict[str, dict[str, Any]]:
        return self.wm.tool_schemas()


class ToolBackend(Protocol):
    """What the examples' real environments offer: tools answered for real."""

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]: ...

    def tools(self) -> dict[str, dict[str, Any]]: ...

    def close(self) -> None: ...


class ToolEnv:
    """A real environment behind the `Env` protocol: tool calls go to the backend; a message to
    the user gets `user_reply(text)` (an empty answer when no user is simulated)."""

    def __init__(
        self,
        backend: ToolBackend,
        reset: Callable[[ToolBackend, str], None],
        user_reply: Callable[[str], str] | None = None,
        name: str = "real",
    ) -> None:
        self.backend = backend
        self._reset = reset
        self._user_reply = user_reply
        self.name = name
        self.state = EnvState()

    def reset(self, task: str = "", seed_state: EnvState | None = None) -> EnvState:
        """A real environment starts from its own state; a seed state is not applied to it."""
        self._reset(self.backend, task)
        self.state = EnvState()
        return self.state

    def step(self, action: Action) -> Observation:
        if action.kind is ActionKind.MESSAGE:
            reply = self._user_reply(action.content) if self._user_reply else ""
            return Observation(content=reply, metadata={"source": self.name})
        content, is_error = self.backend.call(action.name, dict(action.arguments))
        return Observation(content=content, is_error=is_error, metadata={"source": self.name})

    def close(self) -> None:
        self.backend.close()

    def tools(self) -> dict[str, dict[str, Any]]:
        return {name: _described(name, spec) for name, spec in self.backend.tools().items()}


def _described(name: str, spec: Any) -> dict[str, Any]:
    """A backend's tool as `{description, inputSchema}`: the backends describe a tool by its
    argument schema, or by `{description, parameters}`. The description is the backend's own
    (a bare schema's top-level one), else the tool's name; no parameters is no schema."""
    if not isinstance(spec, Mapping):
        return {"description": name, "inputSchema": {}}
    description = spec.get("description")
    described = description if isinstance(description, str) and description else name
    schema = spec.get("parameters") if "parameters" in spec else spec
    return {
        "description": described,
        "inputSchema": dict(schema) if isinstance(schema, Mapping) else {},
    }

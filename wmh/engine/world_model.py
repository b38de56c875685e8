"""The world model: sessions of an agent stepping against a predicted environment.

It owns no prediction logic itself: a `Predictor` (replay or LLM) answers each action, and the
world model keeps each session's history consistent, one step at a time per session.
"""

from __future__ import annotations

from typing import Any

from wmh.core.types import Action, Observation, Session, Turn
from wmh.engine.predictor import PredictionContext, Predictor
from wmh.engine.schemas import infer_tool_schemas
from wmh.engine.sessions import InMemorySessionStore, SessionStore
from wmh.engine.usage import add_session_usage
from wmh.retrieval.retriever import Retriever


def record_usage(session: Session, observation: Observation) -> None:
    """Move the predictor's scratchpad into the session state and add up its usage."""
    scratchpad = observation.metadata.pop("scratchpad", None)
    if isinstance(scratchpad, str):
        session.state.scratchpad = scratchpad
    add_session_usage(session, observation)


class WorldModel:
    """A named, loaded world model: predictor + retriever + prompt + live sessions."""

    def __init__(
        self,
        name: str,
        predictor: Predictor,
        retriever: Retriever,
        prompt: str = "",
        sessions: SessionStore | None = None,
    ) -> None:
        self.name = name
        self.predictor = predictor
        self.retriever = retriever
        self.prompt = prompt
        self.sessions: SessionStore = sessions if sessions is not None else InMemorySessionStore()
        self._schemas: dict[str, dict[str, Any]] | None = None

    def tools(self) -> set[str]:
        """Tool names the recorded environment answered."""
        return self.retriever.table.tool_names()

    def tool_schemas(self) -> dict[str, dict[str, Any]]:
        """Tool name -> description and argument JSON schema, inferred from the recorded calls
        (computed once)."""
        if self._schemas is None:
            table = self.retriever.table
            self._schemas = infer_tool_schemas(table.step(row) for row in range(len(table)))
        return self._schemas

    def new_session(self, task: str = "") -> Session:
        """Start an episode; the task is what the agent was asked to do."""
        return self.sessions.create(task)

    def session(self, session_id: str) -> Session:
        return self.sessions.get(session_id)

    def close_session(self, session_id: str) -> None:
        self.sessions.delete(session_id)

    def predict(
        self, session: Session, action: Action, exclude_trace: str | None = None
    ) -> Observation:
        """Predict an observation without changing the session (used by evaluation)."""
        return self.predictor.predict(PredictionContext(session, action, exclude_trace))

    def step(self, session_id: str, action: Action) -> Observation:
        """Apply an action to a session and return the predicted observation."""
        if not isinstance(action, Action):
            action = Action.model_validate(action)
        with self.sessions.locked(session_id) as session:
            observation = self.predict(session, action)
            record_usage(session, observation)
            session.history.append(Turn(action=action, observation=observation))
            self.sessions.save(session)
        return observation

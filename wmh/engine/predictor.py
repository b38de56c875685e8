"""The predictor seam: given a session and an action, produce the environment's observation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wmh.core.types import Action, Observation, Session
from wmh.retrieval.retriever import Query, recent_actions


@dataclass(frozen=True, slots=True)
class PredictionContext:
    """Everything a predictor may use; `exclude_trace` keeps evaluation leak-free."""

    session: Session
    action: Action
    exclude_trace: str | None = None


def context_query(context: PredictionContext) -> Query:
    """The retrieval query of a prediction: the action in its session (the actions just before
    it, as many as the retrieval texts use), leak-free."""
    session = context.session
    return Query(
        context.action,
        session.task,
        recent_actions(session.history, len(session.history)),
        context.exclude_trace,
    )


class Predictor(Protocol):
    """Answers an action in its session. One that keeps something per session may also have
    `forget(session_id)`, which the world model calls when the session ends."""

    name: str

    def predict(self, context: PredictionContext) -> Observation: ...

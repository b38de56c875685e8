"""What answering cost, added up in one place: steps, tokens, money and provider latency, from
the figures a predictor puts in each observation's metadata. A world model session keeps its
record in its state (`GET .../sessions/{id}` shows it); an episode keeps its own."""

from __future__ import annotations

from wmh.core.types import Observation, Session

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost", "latency_s")
_SESSION_KEY = "usage"  # where a session's record lives in `state.structured`


def add_usage(usage: dict[str, float], observation: Observation) -> None:
    """Count one step in `usage` and add the figures its observation reports."""
    usage["steps"] = usage.get("steps", 0) + 1
    for key in USAGE_KEYS:
        value = observation.metadata.get(key)
        if isinstance(value, int | float):
            usage[key] = round(usage.get(key, 0) + value, 8)


def add_session_usage(session: Session, observation: Observation) -> None:
    add_usage(session.state.structured.setdefault(_SESSION_KEY, {"steps": 0}), observation)


def session_usage(session: Session) -> dict[str, float]:
    """The session's record so far (`{"steps": 0}` before its first step)."""
    usage: dict[str, float] = session.state.structured.get(_SESSION_KEY, {"steps": 0})
    return usage

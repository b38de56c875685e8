"""Core data types shared by every stage: actions, observations, steps, traces, sessions."""

from wmh.core.types import (
    Action,
    ActionKind,
    EnvState,
    Observation,
    Session,
    Step,
    Trace,
    Turn,
)

__all__ = ["Action", "ActionKind", "EnvState", "Observation", "Session", "Step", "Trace", "Turn"]

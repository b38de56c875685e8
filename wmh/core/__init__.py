"""Core data types shared by every stage (actions, observations, steps, traces, sessions), and the
text helpers every layer shares: canonical JSON, clipping, the JSON object in a text, the JSON
action grammar."""

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

"""Scenarios, the input of every RL loop: a task and the environment's records at its start,
taken from recorded traces (a model's held-out traces by default), deterministic for a seed.

A scenario's seed state holds each record its trace's environment showed (a user, a
reservation: a JSON object with an id-like key), as first shown; a session started from it
(`new_session(task, seed_state)`) answers consistently with that world from its first step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from wmh.core.types import MAX_JSON_DEPTH, EnvState, Trace, json_value_problem
from wmh.engine.consistency import identified_objects
from wmh.errors import ConfigError
from wmh.store.splits import agent_traces

RECORDS_KEY = "records"


class Scenario(BaseModel):
    task: str
    seed_state: EnvState
    trace_id: str


def seed_state_of(trace: Trace) -> EnvState:
    """The records a trace's environment showed, each as first shown, in order. A number the
    recording wrote as NaN or Infinity is null here, as JSON writes it (a session refuses a
    seed state holding one); a record nested past what a session holds is left out."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for step in trace.steps:
        if step.observation.is_error:
            continue
        for identity, record in identified_objects(step.observation.content):
            if identity not in first and json_value_problem(record):
                record = _finite(record)
                if json_value_problem(record):
                    continue
            first.setdefault(identity, record)
    return EnvState(structured={RECORDS_KEY: list(first.values())} if first else {})


def _finite(value: Any, depth: int = 1) -> Any:
    """`value` with null for each number that is not finite (down to the depth a session
    holds: deeper, the record is left out anyway)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > MAX_JSON_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _finite(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item, depth + 1) for item in value]
    return value


def scenarios_from_traces(
    traces: Sequence[Trace], count: int | None = None, seed: int = 0, seed_states: bool = True
) -> list[Scenario]:
    """Up to `count` scenarios (all by default), one per distinct task, in an order drawn with
    `seed` (the same traces and seed give the same scenarios on every machine)."""
    if count is not None and count < 1:  # 0 and -5 gave one scenario
        raise ConfigError(f"count must be at least 1 (None: every scenario), got {count}")
    ordered = sorted((t for t in traces if t.task.strip()), key=lambda t: t.trace_id)
    random.Random(seed).shuffle(ordered)
    chosen: list[Scenario] = []
    seen: set[str] = set()
    for trace in ordered:
        if trace.task in seen:
            continue
        seen.add(trace.task)
        state = seed_state_of(trace) if seed_states else EnvState()
        chosen.append(Scenario(task=trace.task, seed_state=state, trace_id=trace.trace_id))
        if count is not None and len(chosen) >= count:
            break
    return chosen


def model_scenarios(
    model_dir: str | Path, count: int | None = None, seed: int = 0, seed_states: bool = True
) -> list[Scenario]:
    """Scenarios from a built model's held-out traces (its test part, else valid, else train)."""
    return scenarios_from_traces(agent_traces(model_dir), count, seed, seed_states)

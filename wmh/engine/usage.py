"""What answering cost, added up in one place: calls, tokens, money and provider latency, from
the figures a predictor puts in each observation's metadata and a reward judge in its verdict.

A session keeps its totals by phase (`serve` for the world model's answers, `judge` for scoring
it), so what a world model and its judge cost stay apart; `usage_record` is the record the
usage and DELETE routes answer (the leading harness's `RunRecord` shape, plus the step count).
"""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from wmh.core.types import Observation, Session, UsageTotals

SERVE = "serve"
JUDGE = "judge"


def observation_usage(observation: Observation) -> UsageTotals | None:
    """What producing an observation cost; None for one that cost nothing (replayed)."""
    meta = observation.metadata
    prompt, completion = meta.get("prompt_tokens"), meta.get("completion_tokens")
    if not isinstance(prompt, int | float) and not isinstance(completion, int | float):
        return None
    return UsageTotals(
        calls=1,
        input_tokens=int(prompt or 0),
        output_tokens=int(completion or 0),
        cost_usd=float(meta.get("cost") or 0.0),
        latency_s=float(meta.get("latency_s") or 0.0),
    )


def add_phase_usage(session: Session, phase: str, usage: UsageTotals | None) -> None:
    """Add `usage` to the session's totals of `phase` (which exist from then on, if only as
    zeros). Nothing is added for a free answer: the five figures' assignments, each through
    pydantic, were a tenth of a replay step."""
    totals = session.usage.get(phase)
    if totals is None:
        totals = session.usage[phase] = UsageTotals()
    if usage is not None:
        totals.add(usage)


class UsageRecord(BaseModel):
    """A session's usage: totals, by phase, its steps and how long it has lived."""

    run_id: str = Field(description="The session id.")
    session_id: str
    kind: str = SERVE
    steps: int
    duration_seconds: float = Field(description="Wall time since the session was created.")
    total: UsageTotals
    by_phase: dict[str, UsageTotals]


def usage_record(session: Session, now: float | None = None) -> UsageRecord:
    phases = {phase: session.usage.get(phase, UsageTotals()) for phase in (SERVE, JUDGE)}
    phases.update(session.usage)
    total = UsageTotals()
    for figures in phases.values():
        total.add(figures)
    return UsageRecord(
        run_id=session.id,
        session_id=session.id,
        steps=len(session.history),
        duration_seconds=round((now or time.time()) - session.created_at, 6),
        total=total,
        by_phase=phases,
    )


def totals_dict(usage: UsageTotals, steps: int) -> dict[str, float]:
    """Flat figures for reports and MLflow (`steps`, `calls`, tokens, cost, latency)."""
    return {"steps": steps, **usage.model_dump()}

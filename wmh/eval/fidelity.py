"""Open-loop fidelity: replay held-out traces step by step and judge each prediction.

Each held-out step is predicted with the trace's recorded history as the session and its own
trace excluded from retrieval, so no prediction can copy its answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from wmh.core.types import Session, Trace, Turn
from wmh.engine.world_model import WorldModel
from wmh.optimize.judges import Judge
from wmh.retrieval.text import route_of


class ToolFidelity(BaseModel):
    steps: int = 0
    score: float = 0.0


class FidelityReport(BaseModel):
    judge: str
    mode: str = "open_loop"
    steps: int = 0
    traces: int = 0
    score: float = 0.0
    error_flag_accuracy: float = 0.0
    per_tool: dict[str, ToolFidelity] = Field(default_factory=dict)
    sources: dict[str, int] = Field(default_factory=dict)


def evaluate_open_loop(
    wm: WorldModel,
    traces: Sequence[Trace],
    judge: Judge,
    on_step: Callable[[], None] | None = None,
) -> FidelityReport:
    """Predict every step of `traces` against recorded history and average the judge's scores."""
    scores: dict[str, list[float]] = defaultdict(list)
    sources: dict[str, int] = defaultdict(int)
    flags_right = 0
    total = 0
    for trace in traces:
        session = Session(id=f"eval-{trace.trace_id}", task=trace.task)
        for step in trace.steps:
            predicted = wm.predict(session, step.action, exclude_trace=trace.trace_id)
            verdict = judge.judge(predicted, step.observation)
            scores[route_of(step.action)].append(verdict.score)
            sources[str(predicted.metadata.get("source", "unknown"))] += 1
            flags_right += predicted.is_error == step.observation.is_error
            total += 1
            session.history.append(Turn(action=step.action, observation=step.observation))
            if on_step is not None:
                on_step()
    all_scores = [s for values in scores.values() for s in values]
    return FidelityReport(
        judge=judge.name,
        steps=total,
        traces=len(traces),
        score=round(sum(all_scores) / total, 6) if total else 0.0,
        error_flag_accuracy=round(flags_right / total, 6) if total else 0.0,
        per_tool={
            tool: ToolFidelity(steps=len(v), score=round(sum(v) / len(v), 6))
            for tool, v in sorted(scores.items())
        },
        sources=dict(sorted(sources.items())),
    )

"""Evaluate a world model on held-out traces: sampled turns, open or closed loop, with baselines.

Open loop predicts each scored step from the *recorded* history; closed loop feeds the model its
own earlier predictions, as an agent acting in the simulation would see them. Either way, a step
never retrieves from its own trace.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from wmh.core.canonical import stable_unit_interval
from wmh.core.types import Observation, Session, Trace, Turn
from wmh.engine.predictor import PredictionContext, Predictor
from wmh.errors import ConfigError
from wmh.retrieval.text import route_of
from wmh.scoring.judges import Judge
from wmh.scoring.modes import LoopMode


class StepResult(BaseModel):
    trace_id: str
    index: int
    source_file: str
    tool: str
    score: float
    feedback: str
    flag_correct: bool
    origin: str = ""
    # The recorded step (trace id:index) the answer was taken from, when it was one.
    from_step: str = ""
    baselines: dict[str, float] = Field(default_factory=dict)


class Fidelity(BaseModel):
    """Mean step score with its spread: the standard deviation over steps and a 95% bootstrap
    interval of the mean (traces resampled, since steps of one trace are not independent)."""

    steps: int = 0
    score: float = 0.0
    std: float = 0.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    error_flag_accuracy: float = 0.0
    baselines: dict[str, float] = Field(default_factory=dict)


class EvalReport(BaseModel):
    """Everything one evaluation measured; written as the results JSON."""

    model: str
    suite: str = ""
    mode: LoopMode
    judge: str
    sample_turns: str
    seed: int
    traces: int
    overall: Fidelity
    per_file: dict[str, Fidelity] = Field(default_factory=dict)
    per_tool: dict[str, Fidelity] = Field(default_factory=dict)
    sources: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    # An LLM judge's own calls, tokens and cost, and the judgements it gave no grade (scored 0).
    judge_usage: dict[str, float] = Field(default_factory=dict)
    ungraded: int = 0
    judgements: int = 0
    created_at: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    # What was evaluated: the prompt (the model's, or a file), retrieved examples per step
    # (0: zero-shot), and how the given files were used against the model's own split.
    prompt: str = "model"
    top_k: int | None = None
    unseen_traces: int = 0
    seen_traces_skipped: int = 0
    # What reading the given files read and left out (spans skipped, duplicates, calls without
    # a result), as a build's summary says it; "" for a model's own test part.
    ingest: str = ""
    # When a build scored a stable sample of whole held-out traces: the steps of all of them.
    sampled_from: int = 0
    steps: list[StepResult] = Field(default_factory=list)


def sample_indices(trace: Trace, sample_turns: str, seed: int) -> list[int]:
    """Which steps of a trace are scored: all, first, last, or N chosen by a seeded draw."""
    n = len(trace.steps)
    if sample_turns == "sampled":  # the leading harness's name: one seeded turn per trace
        sample_turns = "1"
    if sample_turns == "all":
        return list(range(n))
    if sample_turns == "first":
        return [0] if n else []
    if sample_turns == "last":
        return [n - 1] if n else []
    try:
        count = int(sample_turns)
    except ValueError:
        raise ConfigError(
            f"sample_turns must be all, sampled, first, last or a number, got '{sample_turns}'"
        ) from None
    if count < 1:
        raise ConfigError(f"sample_turns must be at least 1, got {count}")
    rng = random.Random(int(stable_unit_interval(trace.trace_id, str(seed)) * 2**32))
    return sorted(rng.sample(range(n), min(count, n)))


def _evaluate_trace(
    trace: Trace,
    predictor: Predictor,
    baselines: Sequence[Predictor],
    judge: Judge,
    mode: LoopMode,
    scored: set[int],
) -> list[tuple[StepResult, Observation]]:
    session = Session(id=f"eval-{trace.trace_id}", task=trace.task)
    results = []
    last = max(scored) if scored else -1
    for step in trace.steps[: last + 1]:
        needs_prediction = step.index in scored or mode is LoopMode.CLOSED
        predicted = None
        if needs_prediction:
            context = PredictionContext(session, step.action, exclude_trace=trace.trace_id)
            predicted = predictor.predict(context)
        if step.index in scored and predicted is not None:
            verdict = judge.judge(predicted, step.observation)
            reference = {}
            for baseline in baselines:
                guess = baseline.predict(PredictionContext(session, step.action, trace.trace_id))
                reference[baseline.name] = judge.judge(guess, step.observation).score
            results.append(
                (
                    StepResult(
                        trace_id=trace.trace_id,
                        index=step.index,
                        source_file=trace.source,
                        tool=route_of(step.action),
                        score=verdict.score,
                        feedback=verdict.feedback,
                        flag_correct=predicted.is_error == step.observation.is_error,
                        origin=str(predicted.metadata.get("source", "")),
                        from_step=str(predicted.metadata.get("from_step", "")),
                        baselines=reference,
                    ),
                    predicted,
                )
            )
        shown = predicted if mode is LoopMode.CLOSED and predicted is not None else step.observation
        session.history.append(Turn(action=step.action, observation=shown))
    return results


BOOTSTRAP_SAMPLES = 1000


def spread(scores: Sequence[float], clusters: Sequence[str]) -> tuple[float, float, float]:
    """(standard deviation, 95% interval low, high) of the mean of `scores`; the interval is a
    percentile bootstrap over clusters (the traces the steps belong to), seeded, so the same
    results give the same interval."""
    values = np.asarray(scores, dtype=np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    ids = {c: i for i, c in enumerate(dict.fromkeys(clusters))}
    which = np.fromiter((ids[c] for c in clusters), dtype=np.int64, count=len(clusters))
    sums = np.bincount(which, weights=values, minlength=len(ids))
    counts = np.bincount(which, minlength=len(ids)).astype(np.float64)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(ids), size=(BOOTSTRAP_SAMPLES, len(ids)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return std, float(low), float(high)


def _aggregate(results: Sequence[StepResult]) -> Fidelity:
    if not results:
        return Fidelity()
    names = sorted({name for r in results for name in r.baselines})
    std, low, high = spread([r.score for r in results], [r.trace_id for r in results])
    return Fidelity(
        steps=len(results),
        score=round(sum(r.score for r in results) / len(results), 6),
        std=round(std, 6),
        ci_low=round(low, 6),
        ci_high=round(high, 6),
        error_flag_accuracy=round(sum(r.flag_correct for r in results) / len(results), 6),
        baselines={
            name: round(sum(r.baselines.get(name, 0.0) for r in results) / len(results), 6)
            for name in names
        },
    )


def _grouped(
    results: Sequence[StepResult], key: Callable[[StepResult], str]
) -> dict[str, Fidelity]:
    groups: dict[str, list[StepResult]] = defaultdict(list)
    for result in results:
        groups[key(result)].append(result)
    return {name: _aggregate(members) for name, members in sorted(groups.items())}


def limited(traces: Sequence[Trace], limit: int | None) -> list[Trace]:
    """The traces an evaluation with `limit` scores: the first `limit` by trace id (all with
    none)."""
    return sorted(traces, key=lambda t: t.trace_id)[: limit or None]


def evaluate_traces(
    model: str,
    predictor: Predictor,
    traces: Sequence[Trace],
    judge: Judge,
    *,
    baselines: Sequence[Predictor] = (),
    mode: LoopMode = LoopMode.OPEN,
    sample_turns: str = "all",
    seed: int = 0,
    limit: int | None = None,
    concurrency: int = 1,
    on_trace: Callable[[int], None] | None = None,
) -> EvalReport:
    """Score `predictor` (and the baselines, on the same steps) over held-out `traces`.

    `limit` caps the number of traces (taken in trace-id order); `concurrency` evaluates that
    many traces at once (worth it for LLM providers).
    """
    chosen = limited(traces, limit)
    plans = [(t, set(sample_indices(t, sample_turns, seed))) for t in chosen]

    def run(plan: tuple[Trace, set[int]]) -> list[tuple[StepResult, Observation]]:
        out = _evaluate_trace(plan[0], predictor, baselines, judge, mode, plan[1])
        if on_trace is not None:
            on_trace(len(plan[1]))
        return out

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        per_trace = list(pool.map(run, plans))
    results = [r for trace_results in per_trace for r, _ in trace_results]
    sources: dict[str, int] = defaultdict(int)
    for result in results:
        sources[result.origin or "unknown"] += 1
    return EvalReport(
        model=model,
        mode=mode,
        judge=judge.name,
        sample_turns=sample_turns,
        seed=seed,
        traces=len(chosen),
        overall=_aggregate(results),
        per_file=_grouped(results, lambda r: r.source_file),
        per_tool=_grouped(results, lambda r: r.tool),
        sources=dict(sorted(sources.items())),
        steps=results,
    )

"""`evaluate_traces` on real components: which traces a limit takes, that baselines never copy
from the trace being scored, the spread's figures, and the seeded choice of sampled turns."""

from __future__ import annotations

import math

import pytest

from wmh.core.types import Action, Observation, Step, Trace
from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import query_text
from wmh.scoring.baselines import ActionCopy
from wmh.scoring.judges import ExactJudge
from wmh.scoring.runner import evaluate_traces, sample_indices, spread


def _trace(trace_id: str, answers: list[str]) -> Trace:
    steps = [
        Step(
            action=Action(name="get", arguments={"id": str(index)}),
            observation=Observation(content=answer),
            trace_id=trace_id,
            index=index,
            task="look things up",
        )
        for index, answer in enumerate(answers)
    ]
    return Trace(trace_id=trace_id, steps=steps, source=f"{trace_id}.jsonl")


def _retriever(traces: list[Trace]) -> IndexRetriever:
    table = StepTable.from_steps([s for t in traces for s in t.steps])
    embedder = HashingEmbedder(dim=32)
    vectors = embedder.embed(
        [query_text(table.step(r).action, table.step(r).task, []) for r in range(len(table))]
    )
    return IndexRetriever(table, PartitionedIndex.build(vectors, table.routes), embedder)


# Two traces making the same calls, answered differently: each trace's own answers are only in
# itself, so a copy from the other trace never matches exactly.
MINE = _trace("a-mine", ["mine 0", "mine 1", "mine 2"])
OTHER = _trace("b-other", ["other 0", "other 1", "other 2"])


def test_baselines_never_copy_from_the_trace_being_scored() -> None:
    retriever = _retriever([MINE, OTHER])
    copy = ActionCopy(retriever)
    report = evaluate_traces("m", copy, [MINE], ExactJudge(), baselines=[copy])
    assert report.overall.steps == 3
    # Every step's copy comes from b-other (0 by the exact judge), the model's and baseline's.
    assert [s.score for s in report.steps] == [0.0, 0.0, 0.0]
    assert [s.baselines["action_copy"] for s in report.steps] == [0.0, 0.0, 0.0]
    assert report.overall.baselines["action_copy"] == 0.0


def test_a_limit_takes_the_first_traces_in_trace_id_order_whatever_the_given_order() -> None:
    traces = [_trace(f"t{n}", [f"answer {n}"]) for n in (3, 1, 4, 0, 2)]
    copy = ActionCopy(_retriever(traces))
    report = evaluate_traces("m", copy, traces, ExactJudge(), limit=2)
    assert report.traces == 2
    assert [s.trace_id for s in report.steps] == ["t0", "t1"]
    assert set(report.per_file) == {"t0.jsonl", "t1.jsonl"}
    everything = evaluate_traces("m", copy, traces, ExactJudge())
    assert [s.trace_id for s in everything.steps] == ["t0", "t1", "t2", "t3", "t4"]


def test_the_spread_is_the_sample_standard_deviation_and_a_bootstrap_over_traces() -> None:
    std, low, high = spread([0.0, 1.0], ["a", "b"])
    assert std == pytest.approx(math.sqrt(0.5))  # ddof=1: 0.707, not 0.5
    assert (low, high) == (0.0, 1.0)  # resampling two traces can give all 0s or all 1s
    # Steps of one trace resample together: one trace is one cluster, so no spread at all.
    std, low, high = spread([0.0, 1.0, 0.5], ["a", "a", "a"])
    assert std == pytest.approx(0.5)
    assert (low, high) == (pytest.approx(0.5), pytest.approx(0.5))
    assert spread([0.25], ["a"]) == (0.0, 0.25, 0.25)


def test_sampled_turns_are_seeded_per_trace_and_the_seed_changes_them() -> None:
    trace = _trace("t", [str(n) for n in range(40)])
    draws = {tuple(sample_indices(trace, "3", seed)) for seed in range(8)}
    assert len(draws) > 1  # the seed chooses other turns
    for seed in range(8):
        chosen = sample_indices(trace, "3", seed)
        assert chosen == sample_indices(trace, "3", seed) and len(set(chosen)) == 3
        assert chosen == sorted(chosen) and all(0 <= i < 40 for i in chosen)
    assert sample_indices(trace, "sampled", 5) == sample_indices(trace, "1", 5)
    assert sample_indices(trace, "first", 0) == [0] and sample_indices(trace, "last", 0) == [39]
    assert sample_indices(trace, "99", 0) == list(range(40))


def test_the_error_flag_is_right_when_it_agrees_with_the_recorded_one() -> None:
    """Both traces' calls failed: a copied failure has the right flag, though not the right
    text; a success copied where the call failed has the wrong one."""

    def failing(trace_id: str, errors: list[bool]) -> Trace:
        trace = _trace(trace_id, [f"{trace_id} {n}" for n in range(len(errors))])
        for step, error in zip(trace.steps, errors, strict=True):
            step.observation = Observation(content=step.observation.content, is_error=error)
        return trace

    mine, other = failing("a", [True, True, False]), failing("b", [True, False, False])
    copy = ActionCopy(_retriever([mine, other]))
    report = evaluate_traces("m", copy, [mine], ExactJudge())
    assert [s.flag_correct for s in report.steps] == [True, False, True]
    assert report.overall.error_flag_accuracy == pytest.approx(2 / 3, abs=1e-6)
    assert report.overall.score == 0.0

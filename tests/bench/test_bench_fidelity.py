"""The fidelity benchmark's training files: a subset of a corpus's traces, renamed on request."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from wmh.core.canonical import short_hash
from wmh.ingest.reader import read_traces

ROOT = Path(__file__).resolve().parents[2]
CODE_TASKS = ROOT / "examples" / "code-tasks" / "traces.otel.jsonl"


def _bench():  # bench/ is scripts, not a package
    spec = importlib.util.spec_from_file_location(
        "bench_fidelity", ROOT / "bench" / "bench_fidelity.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_renamed_subset_holds_the_kept_traces_under_salted_ids(tmp_path: Path) -> None:
    bench = _bench()
    traces = {t.trace_id: t for t in read_traces([CODE_TASKS]).traces}
    keep = set(sorted(traces)[:7])
    as_named, renamed, other = (tmp_path / f"{n}.jsonl" for n in ("a", "b", "c"))
    bench.write_subset(CODE_TASKS, as_named, keep)
    bench.write_subset(CODE_TASKS, renamed, keep, "s1")
    bench.write_subset(CODE_TASKS, other, keep, "s2")
    assert {t.trace_id for t in read_traces([as_named]).traces} == keep
    read = {t.trace_id: t for t in read_traces([renamed]).traces}
    # Every kept trace, whole, under its salted name; another salt, other names.
    assert set(read) == {short_hash(f"s1:{t}", 32) for t in keep}
    for trace_id in keep:
        mine = read[short_hash(f"s1:{trace_id}", 32)]
        assert [s.action for s in mine.steps] == [s.action for s in traces[trace_id].steps]
        assert [s.observation.content for s in mine.steps] == [
            s.observation.content for s in traces[trace_id].steps
        ]
    assert not set(read) & {t.trace_id for t in read_traces([other]).traces}


def test_best_of_nearest_is_the_best_adapted_answer_among_the_nearest() -> None:
    from wmh.core.types import Session
    from wmh.engine.adapt import adapt_observation
    from wmh.engine.predictor import PredictionContext, context_query
    from wmh.scoring.judges import StructuralJudge
    from wmh.store.loader import load_world_model

    bench = _bench()
    wm, _ = load_world_model(ROOT / "examples" / "code-tasks" / "models" / "code-tasks")
    judge = StructuralJudge()
    traces = read_traces([CODE_TASKS]).traces
    below_best = 0
    for step in [s for t in traces[:6] for s in t.steps]:
        context = PredictionContext(Session(id="s", task=""), step.action)
        scores = []
        for n in wm.retriever.neighbours(context_query(context), 10):
            content, _ = adapt_observation(
                n.step.observation.content, n.step.action.arguments, step.action.arguments
            )
            guess = n.step.observation.model_copy(update={"content": content})
            scores.append(judge.judge(guess, step.observation).score)
        assert len(scores) == 10
        best = bench.best_of_nearest(wm.retriever, context, 0.0, step.observation, judge)
        assert best == max(scores)
        below_best += scores[0] < best
        # The model's own answer counts when it is better than every neighbour's.
        assert bench.best_of_nearest(wm.retriever, context, 1.5, step.observation, judge) == 1.5
    assert below_best  # some step's best neighbour is not its nearest

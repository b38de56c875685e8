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

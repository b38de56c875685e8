"""Ingest never fails with anything but wmh's own errors, whatever the lines hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wmh.errors import WmhError
from wmh.ingest import read_traces

DATA = Path(__file__).resolve().parents[1] / "data"
SEED_LINES = [
    line
    for name in (
        "single_spans.jsonl",
        "legacy_flat.jsonl",
        "announce_then_execute.jsonl",
        "collector_exports.jsonl",
    )
    for line in (DATA / name).read_text().splitlines()
    if line.strip()
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _replace(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], tuple(rest), new)}
    copy = list(value)  # type: ignore[call-overload]
    copy[head] = _replace(copy[head], tuple(rest), new)
    return copy


@st.composite
def mutated_line(draw: st.DrawFn) -> str:
    original = json.loads(draw(st.sampled_from(SEED_LINES)))
    paths = _paths(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        original = _replace(original, path, draw(json_values))
        paths = _paths(original)
    return json.dumps(original)


lines = st.one_of(
    mutated_line(), st.sampled_from(SEED_LINES), st.text(max_size=80), json_values.map(json.dumps)
)


def _check(tmp_path: Path, content: str) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_text(content, encoding="utf-8")
    try:
        result = read_traces([path], skip_empty_traces=True)
    except WmhError:
        return
    for trace in result.traces:
        assert trace.steps and all(s.trace_id == trace.trace_id for s in trace.steps)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines, min_size=1, max_size=8))
def test_random_and_mutated_lines_raise_only_wmh_errors(tmp_path: Path, batch: list[str]) -> None:
    _check(tmp_path, "\n".join(batch) + "\n")


@pytest.mark.slow
@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines, min_size=12, max_size=24))
def test_ten_thousand_fuzzed_lines_raise_only_wmh_errors(tmp_path: Path, batch: list[str]) -> None:
    _check(tmp_path, "\n".join(batch) + "\n")

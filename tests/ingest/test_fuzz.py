"""Ingest never fails with anything but wmh's own errors, whatever the lines hold."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wmh.errors import WmhError
from wmh.ingest import read_traces
from wmh.ingest.otlp import read_span_file
from wmh.ingest.synthetic import write_corpus

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

# The seed lines that hold a step on their own, by file and line (the others are a call
# without its answer, or a span ingest does not know).
STEPPING = {
    "single_spans.jsonl": (1, 2, 3),
    "legacy_flat.jsonl": (1, 2),
    "announce_then_execute.jsonl": (3,),
    "collector_exports.jsonl": (0, 1),
}
STEPPING_LINES = [
    [line for line in (DATA / name).read_text().splitlines() if line.strip()][at]
    for name, ats in STEPPING.items()
    for at in ats
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
        # Lines as the reader splits them (at newlines) and skips them (blank in ASCII): not
        # as `str.splitlines` and `str.strip` do, which also take \x1c, \x85 or \u2028 for a
        # line break or a space (a line of "\x1c" was refused, rightly, and the test failed).
        raw_lines = content.encode("utf-8", "surrogatepass").split(b"\n")
        clean = [line.decode("utf-8", "surrogatepass") for line in raw_lines if line.strip()]
        # Unchanged lines of the seed files, one of which holds a step, are read, not refused.
        assert not (set(clean) <= set(SEED_LINES) and set(clean) & set(STEPPING_LINES)), content
        return
    for trace in result.traces:
        assert trace.steps and all(s.trace_id == trace.trace_id for s in trace.steps)


def _steps_read(tmp_path: Path, lines: list[str]) -> int:
    path = tmp_path / "seed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        return sum(len(t.steps) for t in read_traces([path], skip_empty_traces=True).traces)
    except WmhError:
        return 0


def test_unchanged_seed_lines_are_read_into_steps(tmp_path: Path) -> None:
    """The fuzzing's seeds are read (a reader refusing every file would pass it otherwise):
    of the 13 lines, the 8 that hold steps alone are read into them (a collector's export
    holds several), and any batch of seed lines holding one of them is read."""
    assert len(SEED_LINES) == 13
    assert [_steps_read(tmp_path, [line]) for line in STEPPING_LINES] == [1, 1, 1, 1, 1, 1, 2, 6]
    rng = random.Random(3)
    for _ in range(40):
        batch = [rng.choice(SEED_LINES) for _ in range(rng.randint(1, 8))]
        if set(batch) & set(STEPPING_LINES):
            assert _steps_read(tmp_path, batch) >= 1, batch


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines, min_size=1, max_size=8))
@example(batch=[STEPPING_LINES[0], "\x1c"])  # a line only Python's str takes for blank
def test_random_and_mutated_lines_raise_only_wmh_errors(tmp_path: Path, batch: list[str]) -> None:
    _check(tmp_path, "\n".join(batch) + "\n")


CORPUS = write_corpus(Path(tempfile.mkdtemp(prefix="wmh-fuzz-")) / "base.jsonl", 64, seed=11)
BASE = [line for line in CORPUS.read_text().splitlines() if line.strip()]


def _mutate(line: str, draw: st.DrawFn) -> str:
    """One line of a valid corpus, changed inside: a value replaced, or the line garbled."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:  # garbled by an earlier mutation: garble it more
        value = None
    if value is not None and draw(st.booleans()):
        path = draw(st.sampled_from(_paths(value)))
        return json.dumps(_replace(value, path, draw(json_values)))
    cut = draw(st.integers(0, len(line)))
    return line[:cut] + draw(st.text(max_size=6)) + line[cut:]


@st.composite
def mutated_corpus(draw: st.DrawFn) -> list[str]:
    """The base corpus with one to three of its lines changed, anywhere."""
    changed = list(BASE)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(changed) - 1))
        changed[at] = _mutate(changed[at], draw)
    return changed


def _parsed_lines(path: Path) -> int:
    """Lines read into spans before the file's first error (all of them when it has none)."""
    count = 0
    try:
        for _ in read_span_file(path):
            count += 1
    except WmhError:
        pass
    return count


PARSED = {"lines": 0, "files": 0}


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutated_corpus())
def _fuzz_corpora(tmp_path: Path, corpus: list[str]) -> None:
    _check(tmp_path, "\n".join(corpus) + "\n")
    PARSED["lines"] += _parsed_lines(tmp_path / "fuzz.jsonl")
    PARSED["files"] += 1


@pytest.mark.slow
def test_ten_thousand_lines_of_mutated_corpora_parse_or_raise_only_wmh_errors(
    tmp_path: Path,
) -> None:
    """Mutations land inside otherwise valid files, so most lines are read (and counted)
    before a bad one, if any, stops the file."""
    PARSED.update(lines=0, files=0)
    _fuzz_corpora(tmp_path)
    assert PARSED["files"] == 80
    assert PARSED["lines"] >= 10_000, PARSED

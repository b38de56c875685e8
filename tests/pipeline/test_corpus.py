"""A build folds each trace into its corpus as ingest assembles it and keeps only lines, index
columns and lessons: what it indexes, learns and writes must be what the same traces, held whole,
would give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from wmh.core.canonical import stable_unit_interval
from wmh.core.stored import StoredTraces, step_counts, step_json, trace_ids, trace_sources
from wmh.core.types import Action, ActionKind, Observation, Step, Trace
from wmh.engine.learnt import Lessons
from wmh.ingest.reader import read_traces
from wmh.ingest.split import assign_part, split_stored, split_with
from wmh.pipeline.build import build_world_model, embed_texts, index_traces
from wmh.pipeline.clock import Clock
from wmh.pipeline.corpus import Corpus
from wmh.pipeline.fit_replay import selection_traces
from wmh.retrieval.context import ContextColumns, history_vector, task_vector
from wmh.retrieval.retriever import recent_actions
from wmh.retrieval.text import action_text, query_text
from wmh.store.index import write_index
from wmh.store.layout import ModelFiles

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _trace(name: str, length: int, task: str = "fix it") -> Trace:
    steps = []
    for i in range(length):
        if i % 4 == 3:
            action = Action(kind=ActionKind.MESSAGE, content=f"{name} asks {i}")
        elif i % 4 == 2:  # a tool named `say`: its text is a message's with this content
            action = Action(name="say", arguments={"n": i})
        else:
            action = Action(name="run", arguments={"n": f"{name}{i}"})
        steps.append(
            Step(
                action=action,
                observation=Observation(content=f"out {name} {i}", is_error=i == 1),
                trace_id=name,
                index=i,
                task=task if i else f"{task} first",  # a task may change within a trace
            )
        )
    return Trace(trace_id=name, steps=steps, source=f"{name}.jsonl")


def _same_texts() -> Trace:
    """A message and a tool named `say hi` with the same text (`say hi {}`), in both orders:
    their texts are one, their names in a later step's context are not."""
    said = Action(kind=ActionKind.MESSAGE, content="hi {}")
    called = Action(name="say hi", arguments={})
    actions = [said, called, said, Action(name="run"), called, Action(name="run")]
    steps = [
        Step(action=a, observation=Observation(content=str(i)), trace_id="d", index=i)
        for i, a in enumerate(actions)
    ]
    return Trace(trace_id="d", steps=steps)


def test_each_step_is_embedded_with_the_texts_a_query_gets() -> None:
    traces = [_trace("a", 7), _trace("b", 1, "other"), _trace("c", 4), _same_texts()]
    corpus = Corpus.of(traces)
    steps = [s for t in traces for s in t.steps]
    by_id = {t.trace_id: t for t in traces}
    recent = [recent_actions(by_id[s.trace_id].steps, s.index) for s in steps]
    expected = [query_text(s.action, s.task, r) for s, r in zip(steps, recent, strict=True)]
    assert embed_texts(corpus, range(len(steps))) == expected
    texts = corpus.texts
    windows = [[texts[t] for t in w if t >= 0] for w in corpus.window_texts().tolist()]
    assert windows == [[action_text(a) for a in r] for r in recent]
    assert windows[6] == [action_text(s.action) for s in traces[0].steps[3:6]]  # oldest first
    assert windows[7] == []  # a trace's first step has no history
    # The context columns, rows in another order than the corpus's: a row's history is the
    # vector a query with its actions gets, and tasks are numbered by their first row.
    order = np.array([5, 0, 9, 3, 11, 1, 7, 2, 10, 4, 6, 8, 17, 12, 16, 13, 15, 14])
    columns = ContextColumns.of_numbers(
        [corpus.task_of[i] for i in order], corpus.tasks, corpus.window_texts()[order], texts
    )
    expected_history = np.stack([history_vector(recent[i]) for i in order]).astype(np.float16)
    assert columns.history.dtype == np.float16
    assert np.array_equal(columns.history, expected_history)
    firsts = list(dict.fromkeys(steps[i].task for i in order))
    assert columns.task_of.tolist() == [firsts.index(steps[i].task) for i in order]
    assert np.array_equal(columns.tasks, np.stack([task_vector(t) for t in firsts]))


def _errors(trace_id: str, message: str, count: int) -> Trace:
    steps = [
        Step(
            action=Action(name="lookup", arguments={"n": i}),
            observation=Observation(content=message, is_error=True),
            trace_id=trace_id,
            index=i,
        )
        for i in range(count)
    ]
    return Trace(trace_id=trace_id, steps=steps)


def test_lessons_are_learnt_part_after_part_as_from_the_traces_held_whole() -> None:
    """Two unknown-tool errors tie; the one met first in train-then-valid order wins, though a
    valid trace comes first by id."""
    split = make_settings(Path("."), "x", []).split
    ids = [f"t{i:03d}" for i in range(200)]
    parts = {i: assign_part(i, split.train, split.valid, split.salt) for i in ids}
    valid_id = next(i for i in ids if parts[i] == "valid")
    train_id = next(i for i in ids if parts[i] == "train" and i > valid_id)
    traces = [
        _errors(i, "Unknown tool lookup (v)" if i == valid_id else "Unknown tool lookup (t)", 2)
        if i in (valid_id, train_id)
        else _trace(i, 3)
        for i in ids
    ]
    known = [t for t in traces if parts[t.trace_id] != "test"]
    held = split_with(traces, split)
    expected = Lessons.of(t.steps for t in [*held.train, *held.valid])
    assert expected.error_style().template == "Unknown tool {tool} (t)"
    for corpus in (Corpus.of(traces, split), Corpus.of(reversed(traces), split)):
        learnt = corpus.taught()
        assert learnt.error_style() == expected.error_style()
        assert learnt.repeat_reliability() == expected.repeat_reliability()
        assert learnt.state_writers() == expected.state_writers()
        assert learnt.errors == sum(s.observation.is_error for t in known for s in t.steps)


def test_stored_traces_read_as_the_traces_and_are_parsed_only_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces = [_trace(f"t{i:02d}", 1 + i % 5) for i in range(40)]
    corpus = Corpus.of(traces)
    stored = StoredTraces(corpus.store, range(len(traces)))
    assert [t.model_dump() for t in stored] == [t.model_dump() for t in traces]
    assert stored[3].model_dump() == traces[3].model_dump()
    assert [t.trace_id for t in stored[5:9]] == [t.trace_id for t in traces[5:9]]
    expected = [t.trace_id for t in selection_traces(traces, 30, "fit")]

    def refuse(*args: object, **kwargs: object) -> Step:
        raise AssertionError("parsed a step that is not read")

    monkeypatch.setattr(Step, "model_validate_json", refuse)
    assert trace_ids(stored) == [t.trace_id for t in traces]
    assert step_counts(stored) == [len(t.steps) for t in traces]
    assert trace_sources(stored) == {t.trace_id: t.source for t in traces}
    assert isinstance(stored[5:9], StoredTraces) and stored[5:9].numbers == [5, 6, 7, 8]
    monkeypatch.undo()
    # Only the chosen traces are parsed: the draw reads ids and sizes.
    assert [t.trace_id for t in selection_traces(stored, 30, "fit")] == expected
    assert expected != sorted(expected, key=lambda t: stable_unit_interval(t, "x"))


def test_a_build_indexes_and_writes_what_the_traces_held_whole_give(tmp_path: Path) -> None:
    """The published index (rows, columns, vectors, context) and split files of a build equal
    those of the list-based index over [train, valid, test] and the steps encoded afresh."""
    corpus_file = EXAMPLES / "code-tasks" / "traces.otel.jsonl"
    settings = make_settings(tmp_path, "streamed", [corpus_file])
    built = build_world_model(settings)
    traces = read_traces([corpus_file]).traces
    split = split_with(traces, settings.split)
    assert split.test and split.valid
    retriever = index_traces(settings, [*split.train, *split.valid, *split.test], Clock(None))
    write_index(tmp_path / "whole", retriever)
    files = ModelFiles(built.path)
    written = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert "steps.jsonl" in written and "history.npy" in written
    for name in written:
        assert (files.index_dir / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    for part in ("train", "valid", "test"):
        lines = [step_json(s) for t in split.part(part) for s in t.steps]
        assert files.steps(part).read_bytes() == b"".join(line + b"\n" for line in lines)
    stored = split_stored(Corpus.of(traces).store, settings.split)
    assert trace_ids(stored.test) == [t.trace_id for t in split.test]

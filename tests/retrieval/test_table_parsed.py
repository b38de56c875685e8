"""A loaded step table keeps only its most recently read rows parsed."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import wmh.retrieval.table as table_module
from wmh.core.types import Action, Observation, Step
from wmh.retrieval.table import StepTable


def _steps(count: int) -> list[Step]:
    return [
        Step(
            trace_id=f"t{i // 5}",
            index=i % 5,
            task="t",
            action=Action(name="read", arguments={"path": f"/f/{i}"}),
            observation=Observation(content=f"line {i}"),
        )
        for i in range(count)
    ]


def _live_steps() -> int:
    gc.collect()
    return sum(isinstance(o, Step) for o in gc.get_objects())


def _saved_and_loaded(
    steps: list[Step], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> StepTable:
    """The steps' table saved and loaded again, keeping 8 rows parsed."""
    StepTable.from_steps(steps).save(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    monkeypatch.setattr(table_module, "PARSED_KEPT", 8)
    return StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")


def test_a_loaded_table_holds_only_the_rows_it_read_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _steps(60)
    table = _saved_and_loaded(steps, tmp_path, monkeypatch)
    before = _live_steps()
    read = [table.step(row).model_dump() for row in range(len(table))]
    # Every row read as it was saved (the table is sorted by route: one route, saved order) ...
    assert read == [step.model_dump() for step in steps]
    # ... and eight held afterwards, not sixty (a server answering from a large corpus kept
    # every row it had parsed, and a full read, as tool schemas make, kept the whole table).
    assert _live_steps() - before == 8
    # The rows read last (52-59) are answered from the ones held, the others parsed again.
    kept = table._parse.cache_info()
    assert kept.currsize == 8
    assert table.step(52) is table.step(52)
    assert table._parse.cache_info().hits == kept.hits + 2
    assert table.step(0).model_dump() == read[0]
    assert table._parse.cache_info().misses == kept.misses + 1


def test_a_pass_over_every_row_keeps_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _steps(60)
    table = _saved_and_loaded(steps, tmp_path, monkeypatch)
    for row in range(8):
        table.step(row)
    before = _live_steps()
    # A full pass (tool schemas, a baseline's index of messages) reads every row as saved ...
    assert [s.model_dump() for s in table.steps(range(60))] == [s.model_dump() for s in steps]
    # ... holds none of them, and leaves the rows the steps were answering from in place.
    assert _live_steps() == before
    hits = table._parse.cache_info().hits
    for row in range(8):
        table.step(row)
    assert table._parse.cache_info().hits == hits + 8


def test_a_built_table_keeps_the_steps_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "PARSED_KEPT", 8)
    steps = _steps(30)
    table = StepTable.from_steps(steps)
    assert all(table.step(row) is steps[row] for row in range(len(steps)))
    assert all(a is b for a, b in zip(table.steps(range(len(steps))), steps, strict=True))


def test_tool_schemas_read_every_row_without_keeping_them() -> None:
    from wmh.store.loader import load_world_model

    root = Path(__file__).resolve().parents[2] / "examples" / "airline" / "models" / "airline"
    wm, _ = load_world_model(root)
    table = wm.retriever.table  # type: ignore[attr-defined]
    session = wm.new_session(task="change my flight")
    wm.step(session.id, Action(name="get_user_details", arguments={"user_id": "mia_li_3668"}))
    kept = table._parse.cache_info()
    assert kept.currsize > 0
    schemas = wm.tool_schemas()
    assert "get_user_details" in schemas and len(schemas) == len(table.tool_names())
    # Every row was read for the schemas, none through the kept parses.
    assert table._parse.cache_info() == kept

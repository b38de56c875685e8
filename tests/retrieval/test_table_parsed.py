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


def test_a_loaded_table_holds_only_the_rows_it_read_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _steps(60)
    StepTable.from_steps(steps).save(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    monkeypatch.setattr(table_module, "PARSED_KEPT", 8)
    table = StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    before = _live_steps()
    read = [table.step(row).model_dump() for row in range(len(table))]
    # Every row read as it was saved (the table is sorted by route: one route, saved order) ...
    assert read == [step.model_dump() for step in steps]
    # ... and eight held afterwards, not sixty (a server answering from a large corpus kept
    # every row it had parsed, and a full read, as tool schemas make, kept the whole table).
    assert _live_steps() - before == 8
    # The rows read last are answered from the ones held, the others parsed again.
    assert table.step(59) is table.step(59)
    first = table.step(0)
    assert first.model_dump() == read[0]


def test_a_built_table_keeps_the_steps_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "PARSED_KEPT", 8)
    steps = _steps(30)
    table = StepTable.from_steps(steps)
    assert all(table.step(row) is steps[row] for row in range(len(steps)))

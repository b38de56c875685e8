"""The longest recorded observation of some rows, as the LLM's answer budget reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from wmh.core.types import Action, Observation, Step
from wmh.errors import StoreError
from wmh.retrieval.table import StepTable


def _step(trace: str, arguments: str, content: str) -> Step:
    return Step(
        trace_id=trace,
        index=0,
        task="t",
        action=Action(name="read", arguments={"path": arguments}),
        observation=Observation(content=content),
    )


def test_the_longest_observation_is_found_when_longer_lines_hold_long_calls(
    tmp_path: Path,
) -> None:
    steps = [
        _step("a", "x" * 500, "short"),  # the longest line: its call, not its answer
        _step("b", "y", "é" * 60),  # the longest answer, shorter as a line
        _step("c", "z" * 200, "q" * 59),
        _step("d", "w", "\n" * 50),  # escaped in the line: more bytes than characters
        _step("e", "v", "r" * 300),  # longer still, but in a trace left out below
    ]
    built = StepTable.from_steps(steps)
    built.save(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    loaded = StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    rows = np.arange(4)
    for table in (built, loaded):
        assert table.longest_observation(rows) == "é" * 60
        assert table.longest_observation(np.array([0, 2])) == "q" * 59
        assert table.longest_observation(np.arange(5)) == "r" * 300
        assert table.longest_observation(np.array([], dtype=np.int64)) == ""
    # A saved table keeps each row's length: one row is parsed, not every row.
    read: list[int] = []
    original = loaded.observation_of
    loaded.observation_of = lambda row: read.append(row) or original(row)  # type: ignore[method-assign]
    assert loaded.longest_observation(np.arange(5)) == "r" * 300
    assert read == [4]
    # A model saved without the column (before it existed) is read row by row.
    columns = orjson.loads((tmp_path / "columns.json").read_bytes())
    del columns["observation_chars"]
    (tmp_path / "columns.json").write_bytes(orjson.dumps(columns))
    older = StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")
    assert older.observation_chars is None and older.longest_observation(rows) == "é" * 60


def test_a_columns_file_whose_lengths_do_not_match_its_rows_is_a_damaged_model(
    tmp_path: Path,
) -> None:
    StepTable.from_steps([_step("a", "x", "1"), _step("b", "y", "22")]).save(
        tmp_path / "rows.jsonl", tmp_path / "columns.json"
    )
    columns = orjson.loads((tmp_path / "columns.json").read_bytes())
    assert columns["observation_chars"] == [1, 2]
    columns["observation_chars"] = [1]
    (tmp_path / "columns.json").write_bytes(orjson.dumps(columns))
    with pytest.raises(StoreError, match="1 observation lengths for 2 rows"):
        StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")

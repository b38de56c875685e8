"""The longest recorded observation of some rows, as the LLM's answer budget reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from wmh.core.types import Action, Observation, Step
from wmh.errors import StoreError
from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import query_text


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
    # A built table, and a saved one, keep each row's length: one row is read, not every row.
    for table in (built, loaded):
        read: list[int] = []
        original = table.observation_of
        table.observation_of = lambda row, o=original, r=read: r.append(row) or o(row)  # type: ignore[method-assign]
        assert table.longest_observation(np.arange(5)) == "r" * 300
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


@pytest.mark.parametrize("damaged", ["12", {"a": 1, "b": 2}, [1, None], [1.5, 2], [[1], [2]]])
def test_observation_lengths_that_are_not_whole_numbers_are_a_damaged_model(
    tmp_path: Path, damaged: object
) -> None:
    StepTable.from_steps([_step("a", "x", "1"), _step("b", "y", "22")]).save(
        tmp_path / "rows.jsonl", tmp_path / "columns.json"
    )
    columns = orjson.loads((tmp_path / "columns.json").read_bytes())
    columns["observation_chars"] = damaged
    (tmp_path / "columns.json").write_bytes(orjson.dumps(columns))
    with pytest.raises(StoreError, match="not a list of whole numbers"):
        StepTable.load(tmp_path / "rows.jsonl", tmp_path / "columns.json")


def test_a_retriever_sizes_a_tool_from_the_rows_it_may_return() -> None:
    steps = [
        _step("a", "1", "x" * 10),
        _step("b", "2", "y" * 30),  # the longest, in a trace the retriever hides
        _step("c", "3", "z" * 20),
    ]
    other = Step(
        trace_id="d",
        index=0,
        task="t",
        action=Action(name="write", arguments={"path": "4"}),
        observation=Observation(content="w" * 99),  # another tool's
    )
    table = StepTable.from_steps([*steps, other])
    embedder = HashingEmbedder(dim=64)
    rows = [table.step(r) for r in range(len(table))]
    vectors = embedder.embed([query_text(s.action, s.task, []) for s in rows])
    retriever = IndexRetriever(table, PartitionedIndex.build(vectors, table.routes), embedder)
    assert retriever.longest_observation("read") == "y" * 30
    assert retriever.hiding(frozenset({"b"})).longest_observation("read") == "z" * 20
    assert retriever.hiding(frozenset({"a", "b", "c"})).longest_observation("read") == ""
    assert retriever.longest_observation("no_such_tool") == ""

"""How a build writes its model directory."""

from __future__ import annotations

from pathlib import Path

from tests.retrieval.test_index import _steps
from wmh.pipeline.artifacts import _read_back
from wmh.retrieval.table import StepTable, step_json


def test_a_saved_table_reads_each_step_back_as_it_wrote_it(tmp_path: Path) -> None:
    """A build writes the index's table first and reads the split files' lines back from it
    by the offsets `save` returns; a step the table does not hold is encoded afresh."""
    steps = _steps(30)
    table = StepTable.from_steps(steps)
    starts = table.save(tmp_path / "steps.jsonl", tmp_path / "columns.json")
    written = (tmp_path / "steps.jsonl").read_bytes()
    assert starts[-1] == len(written) and len(starts) == len(steps) + 1
    foreign = _steps(31)[-1]  # equal to no step of the table, by identity
    assert set(table.rows_of_steps()) == {id(step) for step in steps}  # none encoded afresh
    with _read_back(tmp_path / "steps.jsonl", table, starts) as line_of:
        assert [line_of(step) for step in steps] == [step_json(step) for step in steps]
        assert line_of(foreign) == step_json(foreign)

"""What a replayed answer says of itself: where it came from, and none of the recording's ids."""

from __future__ import annotations

from pathlib import Path

from wmh.core.types import Action
from wmh.store.loader import load_world_model


def test_a_replayed_answer_names_its_source_and_drops_the_recorded_call_id(
    built_model: Path,
) -> None:
    wm, _ = load_world_model(built_model)
    session = wm.new_session("look up a user")
    step = wm.retriever.table.step(0)
    assert "tool_call_id" in step.observation.metadata  # the recording has one
    answer = wm.step(session.id, step.action)
    # The recorded call's id belongs to that run's call, not to this session's.
    assert "tool_call_id" not in answer.metadata
    assert answer.metadata["source"] == "corpus_replay"  # the call was recorded
    assert answer.metadata["from_step"] == step.id
    unknown = wm.step(session.id, Action(name="no_such_tool"))
    assert unknown.is_error and unknown.metadata == {"source": "unknown_tool"}

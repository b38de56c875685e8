"""The snippet from DESIGN.md, as a user writes it."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_design_snippet_runs_against_a_built_model(
    built_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(built_model.parent.parent.parent)
    store_root = built_model.parent.parent.name

    from wmh import Action, ActionKind, Observation
    from wmh.config.store import WorldModelStore
    from wmh.engine.loader import load_world_model

    model_dir = WorldModelStore(store_root).resolve("records")
    wm, provider = load_world_model(model_dir)
    session = wm.new_session(task="check out the cart")
    obs = wm.step(
        session.id, Action(kind=ActionKind.TOOL_CALL, name="get_order", arguments={"order_id": 31})
    )
    assert isinstance(obs, Observation)
    assert '"order_id": 31' in obs.content and obs.is_error is False
    assert provider.name == "replay"
    assert len(wm.session(session.id).history) == 1

"""The build chooses each tool's replay parts by what they score on its own traces."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_settings
from wmh.config.compose import to_settings
from wmh.core.types import Action, Observation, Step, Trace
from wmh.engine.policy import ReplayPolicies
from wmh.pipeline.build import index_traces, make_replay
from wmh.pipeline.clock import Clock
from wmh.pipeline.fit_replay import fit_policies
from wmh.scoring.judges import StructuralJudge


def _traces(count: int = 40) -> list[Trace]:
    """`get_item` answers with the id it was asked for (adapting a neighbour's id pays);
    `set_limit` always answers "limit was 50", whatever the new limit: the last four traces set
    limits no other trace set, their nearest recorded calls set 50, and swapping that 50 for the
    new limit in "limit was 50" would be wrong."""
    traces = []
    for i in range(count):
        item, limit = 1000 + 7 * i, 50 if i < count - 4 else 51 + i - (count - 4)
        steps = [
            Step(
                action=Action(name="get_item", arguments={"item_id": item}),
                observation=Observation(
                    content=json.dumps({"item_id": item, "name": f"item {item}", "price": 10})
                ),
                trace_id=f"t{i:03d}",
                index=0,
                task="look up an item",
            ),
            Step(
                action=Action(name="set_limit", arguments={"limit": limit}),
                observation=Observation(content="limit was 50"),
                trace_id=f"t{i:03d}",
                index=1,
                task="look up an item",
            ),
        ]
        traces.append(Trace(trace_id=f"t{i:03d}", steps=steps))
    return traces


def _fit(tmp_path: Path) -> tuple[ReplayPolicies, object]:
    settings = to_settings(make_settings(tmp_path, "fit", []))
    traces = _traces()
    retriever = index_traces(settings, traces, Clock(None))
    replay = make_replay(retriever, traces, settings.retrieval.top_k)
    return fit_policies(replay, traces, StructuralJudge())


def test_adaptation_is_kept_where_it_pays_and_dropped_where_it_hurts(tmp_path: Path) -> None:
    policies, report = _fit(tmp_path)
    assert policies.of("get_item").adapt is True
    assert policies.of("set_limit").adapt is False
    tools = report.tools  # type: ignore[attr-defined]
    assert tools["set_limit"].score == 1.0 and tools["set_limit"].all_parts < 1.0
    assert tools["get_item"].score > tools["get_item"].nearest_copy


def test_the_fit_measures_every_trace_left_out_of_the_index_in_turn(tmp_path: Path) -> None:
    _, report = _fit(tmp_path)
    # 40 traces of two steps each, every step measured without its own trace in the index.
    assert report.traces == 40 and report.steps == 80  # type: ignore[attr-defined]

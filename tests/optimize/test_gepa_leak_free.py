"""GEPA scores a candidate prompt on steps of indexed traces when the split has no valid part:
then no step may be shown its own trace's recordings, neither in the prompt the world model is
asked with nor in the examples the reflection model is told it was shown."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply
from wmh.config.compose import to_settings
from wmh.core.types import Action, Observation, Step, Trace
from wmh.engine.learnt import Lessons
from wmh.engine.llm_prompt import PromptBudget
from wmh.optimize.gepa_adapter import COMPONENT, Example, WorldModelAdapter
from wmh.pipeline.build import index_traces, make_replay
from wmh.pipeline.clock import Clock
from wmh.providers.llm import LLMProvider, ProviderConfig
from wmh.scoring.judges import StructuralJudge


def _traces() -> list[Trace]:
    """Six traces, each looking up its own item: every answer names its trace alone."""
    traces = []
    for i in range(6):
        step = Step(
            action=Action(name="get_item", arguments={"item_id": 1000 + i}),
            observation=Observation(content=json.dumps({"item_id": 1000 + i, "tag": f"own-{i}"})),
            trace_id=f"t{i}",
            index=0,
            task="look up an item",
        )
        traces.append(Trace(trace_id=f"t{i}", steps=[step]))
    return traces


def test_no_scored_step_is_shown_its_own_traces_recording(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = lambda body: Reply('<observation is_error="false">\n{}\n</observation>')
    settings = to_settings(make_settings(tmp_path, "leak", []))
    traces = _traces()
    retriever = index_traces(settings, traces, Clock(None))
    replay = make_replay(retriever, Lessons.of(t.steps for t in traces), 5)
    provider = LLMProvider(
        ProviderConfig(
            name="openai_compatible", model="openai/served", api_base=fake_llm.api_base,
            num_retries=0, timeout=5,
        )
    )  # fmt: skip
    adapter = WorldModelAdapter(provider, retriever, replay, StructuralJudge(), 3, PromptBudget())
    batch = [
        Example(t.trace_id, 0, t.task, (), t.steps[0].action, t.steps[0].observation)
        for t in traces
    ]
    result = adapter.evaluate(batch, {COMPONENT: "You are the environment."}, capture_traces=True)
    prompts = ["\n".join(m["content"] for m in body["messages"]) for body in fake_llm.requests]
    assert len(prompts) == len(batch)
    for i, prompt in enumerate(prompts):
        # Each prompt shows the other traces' items (three of them), never its own.
        shown = {n for n in range(6) if f"own-{n}" in prompt}
        assert i not in shown and len(shown) == 3, (i, shown)
    assert result.trajectories is not None
    for i, trajectory in enumerate(result.trajectories):
        told = " ".join(trajectory.examples_shown)
        assert f"own-{i}" not in told and sum(f"own-{n}" in told for n in range(6)) == 3

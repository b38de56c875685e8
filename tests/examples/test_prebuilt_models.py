"""The prebuilt example models load, list and answer like their corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from wmh.examples import find_examples
from wmh.store.loader import load_world_model
from wmh.store.store import WorldModelStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASKS = ["airline", "terminal-tasks", "code-tasks"]


def test_every_example_has_a_corpus_a_suite_a_run_script_and_a_prebuilt_model() -> None:
    tasks = {t.name: t for t in find_examples(EXAMPLES)}
    assert set(TASKS) <= set(tasks)
    for name in TASKS:
        task = tasks[name]
        assert task.corpus is not None and task.corpus.stat().st_size < 5_000_000
        assert [s.stem for s in task.suites] == ["default"]
        assert task.run_script is not None and task.prebuilt is not None


@pytest.mark.parametrize("task", TASKS)
def test_prebuilt_model_replays_a_recorded_step(task: str) -> None:
    wm, provider = load_world_model(WorldModelStore(EXAMPLES / task).resolve(task))
    assert provider.name == "replay"
    step = wm.retriever.table.step(len(wm.retriever.table) // 2)
    session = wm.new_session(task=step.task)
    observation = wm.step(session.id, step.action)
    assert observation.content == step.observation.content
    assert observation.is_error == step.observation.is_error

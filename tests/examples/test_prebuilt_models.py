"""The prebuilt example models load, list and answer like their corpus."""

from __future__ import annotations

import gc
import weakref
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


def test_a_world_model_is_freed_when_its_last_reference_goes() -> None:
    """Its step table (every parsed step) and embedder are freed by reference counting alone,
    once the model is dropped: nothing in it refers back to itself. (Its caches once did, and a
    100k-step build then spent a second of its exit in the cyclic garbage collector.)"""
    wm, _ = load_world_model(WorldModelStore(EXAMPLES / "airline").resolve("airline"))
    table, embedder = weakref.ref(wm.retriever.table), weakref.ref(wm.retriever.embedder)
    for row in (3, len(wm.retriever.table) // 2):  # fills the caches of embeddings, signatures
        step = wm.retriever.table.step(row)
        wm.step(wm.new_session(task=step.task).id, step.action)
    collecting = gc.isenabled()
    gc.disable()
    try:
        del wm, step
        assert table() is None
        assert embedder() is None
    finally:
        if collecting:
            gc.enable()

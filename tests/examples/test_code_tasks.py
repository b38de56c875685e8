"""The code-tasks example: its real environment behaves, and its capture round-trips through ingest.

The example folder's name has a dash, so its modules are loaded from their file paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.loading import load_example_module
from wmh.core.types import ActionKind
from wmh.ingest import read_traces

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "code-tasks"


capture_module = load_example_module("code-tasks", "code_tasks_capture", "capture.py")
env_module = load_example_module(
    "code-tasks", "code_tasks_env", "env.py"
)  # the same module object capture.py loaded


@pytest.fixture
def env():
    with env_module.CodeRepoEnv(seed=3) as environment:
        yield environment


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("code-tasks")
    first, second = folder / "first.jsonl", folder / "second.jsonl"
    episodes = capture_module.capture(first, seed=5, traces=3)
    capture_module.capture(second, seed=5, traces=3)
    return first, second, episodes


def _actions(steps) -> list[tuple[str, dict]]:
    return [(step.action.name, step.action.arguments) for step in steps]


def test_capture_ingests_back_to_what_the_env_returned(captured):
    path, _, episodes = captured
    result = read_traces([path])
    assert len(result.traces) == len(episodes) == 3
    by_actions = {str(_actions(trace.steps)): trace for trace in result.traces}
    for calls in episodes:
        trace = by_actions[str([(c.name, c.arguments) for c in calls])]
        assert all(step.action.kind is ActionKind.TOOL_CALL for step in trace.steps)
        observed = [(s.observation.content, s.observation.is_error) for s in trace.steps]
        assert observed == [(c.result, c.is_error) for c in calls]
        assert any(c.name == "run_tests" and c.is_error for c in calls)
        assert calls[-1].name == "run_tests" and not calls[-1].is_error
    text = path.read_text(encoding="utf-8")
    assert "wmh-code-" not in text and str(FOLDER) not in text


def test_same_seed_gives_the_same_bytes(captured):
    first, second, _ = captured
    assert first.read_bytes() == second.read_bytes()


def test_edits_show_in_later_reads_and_the_fix_passes(env):
    spec = env.reset(0)
    files, failing = env.call("list_files", {})
    assert not failing and files.splitlines() == sorted(spec.files)
    source, _ = env.call("read_file", {"path": spec.module_path})
    assert spec.broken in source
    output, failing = env.call("run_tests", {"path": spec.test_path})
    assert failing and f"FAILED {spec.test_path}::{spec.test_name}" in output
    assert output.endswith("passed in 0.01s")
    reply, error = env.call(
        "replace_in_file", {"path": spec.module_path, "old": spec.broken, "new": spec.fixed}
    )
    assert not error and reply == f"Replaced 1 occurrence in {spec.module_path}"
    source, _ = env.call("read_file", {"path": spec.module_path})
    assert spec.fixed in source and spec.broken not in source
    output, failing = env.call("run_tests", {})
    assert not failing and output.endswith(f"{spec.tests} passed in 0.01s")
    assert env.call("write_file", {"path": "notes/todo.txt", "content": "done\n"})[1] is False
    assert env.call("read_file", {"path": "notes/todo.txt"}) == ("done\n", False)
    files, _ = env.call("list_files", {})
    assert "notes/todo.txt" in files.splitlines() and "__pycache__" not in files


def test_errors_are_observations(env):
    spec = env.reset(1)
    assert env.call("read_file", {"path": "pkg/missing.py"}) == (
        "Error: file not found: pkg/missing.py",
        True,
    )
    assert env.call("grep", {"pattern": "x"}) == ("Error: unknown tool 'grep'", True)
    for path in ("../outside.py", "/etc/passwd", f"{spec.package}/../../x.py"):
        for tool, arguments in (
            ("read_file", {"path": path}),
            ("write_file", {"path": path, "content": "x"}),
            ("run_tests", {"path": path}),
        ):
            assert env.call(tool, arguments) == (
                f"Error: path '{path}' is outside the repository",
                True,
            )
    reply, error = env.call(
        "replace_in_file", {"path": spec.module_path, "old": "no such text", "new": "x"}
    )
    assert error and reply == f"Error: text to replace was not found in {spec.module_path}"
    assert env.call("read_file", {})[1] is True
    assert env.call("list_files", {"path": "x"})[1] is True
    assert set(env.tools()) == {
        "list_files",
        "read_file",
        "write_file",
        "replace_in_file",
        "run_tests",
    }


def test_close_removes_the_repository():
    environment = env_module.CodeRepoEnv(seed=0)
    environment.reset(2)
    root = environment.root
    assert root is not None and root.is_dir()
    environment.close()
    assert not root.exists()

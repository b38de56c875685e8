"""The terminal-tasks example: a real shell, and a capture that ingests back to what it ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.loading import load_example_module
from wmh.ingest import read_traces

env_module = load_example_module("terminal-tasks", "terminal_tasks_env", "env.py")
capture_module = load_example_module("terminal-tasks", "terminal_tasks_capture", "capture.py")


@pytest.fixture
def shell():
    env = env_module.ShellEnv(seed=0)
    env.reset()
    yield env
    env.close()


def test_capture_ingests_back_to_what_the_shell_returned(tmp_path: Path) -> None:
    out = tmp_path / "traces.otel.jsonl"
    episodes = capture_module.capture(out, seed=11, traces=3)
    assert len(episodes) == 3 and all(e.steps for e in episodes)

    recorded = sorted(
        (e.task, [(s.name, s.arguments, s.result, s.is_error) for s in e.steps]) for e in episodes
    )
    result = read_traces([out])
    ingested = sorted(
        (
            t.task,
            [
                (s.action.name, s.action.arguments, s.observation.content, s.observation.is_error)
                for s in t.steps
            ],
        )
        for t in result.traces
    )
    assert ingested == recorded
    assert result.report.unanswered_tool_calls == 0
    assert "wmh-shell-" not in out.read_text(encoding="utf-8")


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    capture_module.capture(first, seed=3, traces=3)
    capture_module.capture(second, seed=3, traces=3)
    capture_module.capture(other, seed=4, traces=3)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_mutations_show_in_later_reads(shell) -> None:
    assert shell.call("bash", {"command": "mkdir -p d && printf 'a\\nb\\n' > d/x.txt"}) == (
        "[exit code 0]",
        False,
    )
    assert shell.call("bash", {"command": "cat d/x.txt"}) == ("a\nb\n[exit code 0]", False)
    assert shell.call("bash", {"command": "echo c >> d/x.txt && wc -l < d/x.txt"}) == (
        "3\n[exit code 0]",
        False,
    )
    shell.call("bash", {"command": "rm d/x.txt"})
    assert shell.call("bash", {"command": "ls d"}) == ("[exit code 0]", False)


def test_state_does_not_leak_across_resets(shell) -> None:
    shell.call("bash", {"command": "touch kept.txt"})
    shell.reset()
    assert shell.call("bash", {"command": "ls"}) == ("[exit code 0]", False)


def test_failing_command_is_an_error_with_its_exit_code(shell) -> None:
    text, is_error = shell.call("bash", {"command": "cat missing.txt"})
    assert is_error
    assert text == "cat: missing.txt: No such file or directory\n[exit code 1]"
    text, is_error = shell.call("bash", {"command": "printf partial; exit 3"})
    assert (text, is_error) == ("partial\n[exit code 3]", True)
    text, is_error = shell.call("bash", {"command": "definitely-not-a-command-xyz"})
    assert is_error and text.endswith("[exit code 127]") and "command not found" in text


def test_unknown_tool_is_an_error(shell) -> None:
    assert shell.call("bsh", {"command": "ls"}) == ("Error: unknown tool 'bsh'", True)
    assert set(shell.tools()) == {"bash"}
    assert shell.tools()["bash"]["required"] == ["command"]


def test_environment_is_fixed_and_hides_the_temp_dir(shell) -> None:
    text, _ = shell.call("bash", {"command": "echo $LC_ALL $TZ; date -d @0 +%Z; ls -a"})
    assert text == "C UTC\nUTC\n.\n..\n[exit code 0]"
    assert shell.root not in shell.call("bash", {"command": "git init -q -b main && git status"})[0]

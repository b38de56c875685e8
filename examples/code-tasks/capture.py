"""Record a scripted coding agent (no LLM) fixing seeded bugs in real repositories.

Every observation in the output comes from `env.CodeRepoEnv`: real files and real pytest runs.
Usage: python examples/code-tasks/capture.py [--seed 0] [--traces 90] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from wmh.capture import EpisodeRecording, TraceRecorder

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "traces.otel.jsonl"


def load_env_module() -> ModuleType:
    """env.py as a module; the folder name has a dash, so it is loaded from its path."""
    name = "code_tasks_env"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


_env = load_env_module()
CodeRepoEnv = _env.CodeRepoEnv
TaskSpec = _env.TaskSpec

TASKS = (
    "The test for {function} in {module_path} is failing; find and fix the bug.",
    "{test_path}::{test_name} fails. Please fix {function} in {module_path} so the suite passes.",
    "Something is wrong with {function} ({module_path}): its test fails. Fix it and make sure "
    "all tests pass.",
    "CI is red on {project}: a test in the {package} package fails. Find the bug and fix it.",
)
UNKNOWN_TOOLS = (
    ("bash", lambda s: {"command": f"python -m pytest -q {s.test_path}"}),
    ("grep", lambda s: {"pattern": s.function, "path": s.package}),
    ("search_code", lambda s: {"query": f"def {s.function}"}),
)
_PASSED = re.compile(r"^(\d+) passed", re.MULTILINE)


@dataclass(frozen=True)
class Call:
    """One tool call as the environment answered it."""

    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool


def misremember(line: str) -> str:
    """The line as an agent might misquote it: other quotes or spacing, so it does not match."""
    if '"' in line:
        return line.replace('"', "'")
    if ", " in line:
        return line.replace(", ", ",")
    return line.replace(" ", "  ", 1)


class Agent:
    """A seeded scripted policy that works one task through the tools, recording as it goes."""

    def __init__(self, env: Any, episode: EpisodeRecording, spec: Any, rng: random.Random) -> None:
        self.env = env
        self.episode = episode
        self.spec = spec
        self.rng = rng
        self.calls: list[Call] = []

    def act(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        result, is_error = self.episode.call_tool(
            name, arguments, lambda args: self.env.call(name, args)
        )
        self.calls.append(Call(name, dict(arguments), result, is_error))
        return result, is_error

    def run_tests(self, whole_suite: bool) -> tuple[str, bool]:
        return self.act("run_tests", {} if whole_suite else {"path": self.spec.test_path})

    def solve(self, vague_task: bool) -> None:
        spec, rng = self.spec, self.rng
        if rng.random() < 0.15:  # guesses a path before looking
            guess = rng.choice(
                (f"{spec.package}/{spec.guess}", f"src/{spec.module_path}", f"{spec.module}.py")
            )
            self.act("read_file", {"path": guess})
        self.act("list_files", {})
        whole_suite = rng.random() < 0.5
        if vague_task:  # the task names no file: find the failure first
            self._expect(self.run_tests(True), failing=True)
        reads = [spec.module_path, spec.test_path]
        if rng.random() < 0.3:
            reads.reverse()
        for path in reads:
            self.act("read_file", {"path": path})
        if not vague_task:
            self._expect(self.run_tests(whole_suite), failing=True)
        if rng.random() < 0.06:
            name, arguments = rng.choice(UNKNOWN_TOOLS)
            self.act(name, arguments(spec))
        current = spec.broken
        mistake = rng.choices(("none", "not_found", "decoy"), weights=(60, 20, 20))[0]
        if mistake == "not_found":
            self.act(
                "replace_in_file",
                {"path": spec.module_path, "old": misremember(spec.broken), "new": spec.fixed},
            )
            if rng.random() < 0.5:
                self.act("read_file", {"path": spec.module_path})
        elif mistake == "decoy":
            self.act(
                "replace_in_file",
                {"path": spec.module_path, "old": spec.broken, "new": spec.decoy},
            )
            self._expect(self.run_tests(whole_suite), failing=True)
            current = spec.decoy
        if rng.random() < 0.25:
            self.act("write_file", {"path": spec.module_path, "content": spec.fixed_source})
        else:
            self.act(
                "replace_in_file", {"path": spec.module_path, "old": current, "new": spec.fixed}
            )
        if rng.random() < 0.2:
            self.act("read_file", {"path": spec.module_path})
        output, _ = self._expect(self.run_tests(rng.random() < 0.6), failing=False)
        passed = _PASSED.search(output)
        count = f"{passed.group(1)} tests pass" if passed else "the tests pass"
        self.episode.say(
            f"Fixed {spec.function} in {spec.module_path}: {spec.summary}. "
            f"Changed `{spec.broken}` to `{spec.fixed}`; "
            f"{count} now."
        )

    def _expect(self, outcome: tuple[str, bool], failing: bool) -> tuple[str, bool]:
        """The scripted policy relies on the bug failing and the fix passing; check it did."""
        if outcome[1] != failing:
            state = "pass" if failing else "fail"
            raise RuntimeError(
                f"task {self.spec.task_id}: tests unexpectedly {state}ed:\n{outcome[0]}"
            )
        return outcome


def task_text(spec: Any, rng: random.Random) -> tuple[str, bool]:
    """The user's request for spec, and whether it leaves the agent to find the failure."""
    index = rng.randrange(len(TASKS))
    fields = {
        "function": spec.function,
        "module_path": spec.module_path,
        "test_path": spec.test_path,
        "test_name": spec.test_name,
        "project": spec.project,
        "package": spec.package,
    }
    return TASKS[index].format(**fields), index == len(TASKS) - 1


def capture(out: str | Path, seed: int = 0, traces: int = 90) -> list[list[Call]]:
    """Record `traces` episodes to `out`; returns each episode's calls as the env answered them."""
    policy = random.Random(seed)
    recorder = TraceRecorder(out, seed=seed, service="code-agent", agent="coder")
    episodes: list[list[Call]] = []
    with CodeRepoEnv(seed=seed) as env:
        try:
            for task_id in range(traces):
                spec = env.reset(task_id)
                text, vague = task_text(spec, policy)
                with recorder.episode(text) as episode:
                    agent = Agent(env, episode, spec, policy)
                    agent.solve(vague)
                episodes.append(agent.calls)
        finally:
            recorder.close()
    return episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traces", type=int, default=90)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    episodes = capture(args.out, seed=args.seed, traces=args.traces)
    steps = sum(len(calls) for calls in episodes)
    errors = sum(call.is_error for calls in episodes for call in calls)
    print(f"wrote {len(episodes)} traces ({steps} tool steps, {errors} errors) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

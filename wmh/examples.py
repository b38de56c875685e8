"""The shipped example environments: find them, and run their own helper scripts.

An example is a folder `examples/<task>/` with a trace corpus (`traces.otel.jsonl`) and/or a
`run.sh`; its eval suites live in `evals/*.toml`, and the folder is a model store root holding
its prebuilt model `<task>`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wmh.errors import WmhError

CORPUS = "traces.otel.jsonl"


@dataclass(frozen=True)
class ExampleTask:
    name: str
    path: Path

    @property
    def corpus(self) -> Path | None:
        file = self.path / CORPUS
        return file if file.is_file() else None

    @property
    def run_script(self) -> Path | None:
        script = self.path / "run.sh"
        return script if script.is_file() else None

    @property
    def suites(self) -> list[Path]:
        return sorted((self.path / "evals").glob("*.toml"))

    @property
    def prebuilt(self) -> Path | None:
        from wmh.store.store import WorldModelStore  # reads model cards: only when asked

        store = WorldModelStore(self.path)  # the example folder is a store root (--root)
        return store.path(self.name) if self.name in store.names() else None


def default_examples_dir() -> Path:
    """`./examples` when it exists, else the examples folder next to the installed package."""
    here = Path("examples")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "examples"


def find_examples(directory: Path | None = None) -> list[ExampleTask]:
    directory = directory or default_examples_dir()
    if not directory.is_dir():
        return []
    tasks = [ExampleTask(p.name, p) for p in sorted(directory.iterdir()) if p.is_dir()]
    return [t for t in tasks if t.corpus is not None or t.run_script is not None]


def get_example(name: str, directory: Path | None = None) -> ExampleTask:
    tasks = {t.name: t for t in find_examples(directory)}
    if name not in tasks:
        known = ", ".join(tasks) or "none"
        raise WmhError(f"no example task '{name}' (available: {known})")
    return tasks[name]


def run_example(task: ExampleTask, args: Sequence[str]) -> int:
    """Run the example's `run.sh` with `args`; `WMH` points at this wmh. Returns the exit code."""
    if task.run_script is None:
        raise WmhError(f"example '{task.name}' has no run.sh")
    env = {**os.environ, "WMH": f"{sys.executable} -m wmh"}
    return subprocess.call(["bash", str(task.run_script), *args], env=env)

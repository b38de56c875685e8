"""Eval suites: `examples/<task>/evals/<suite>.toml` files describing one reproducible evaluation.

A suite is data (which traces, how to split and sample, which judge and provider), read with
pydantic; the settings it names are applied as ordinary Hydra overrides.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wmh.core.types import first_problem
from wmh.errors import ConfigError
from wmh.examples import ExampleTask, find_examples
from wmh.scoring.modes import LoopMode


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    description: str = ""
    files: list[str] = Field(min_length=1)
    train_split: float = Field(default=0.8, gt=0, lt=1)
    # all, sampled, first, last, or N (a TOML number, or the same as text)
    sample_turns: str = "all"
    seed: int = 0
    judge: str = "structural"
    provider: str = "replay"
    mode: LoopMode = LoopMode.OPEN
    # The leading harness's keys: an environment prompt file (relative to the suite file),
    # retrieved examples per step, zero-shot, and the embedding size of the suite's model.
    prompt: str = ""
    top_k: int | None = Field(default=None, ge=0)
    no_rag: bool = False
    embed_dim: int | None = Field(default=None, ge=8)

    # Filled in when loaded: where the suite lives.
    task: str = ""
    name: str = ""
    path: str = ""

    @field_validator("sample_turns", mode="before")
    @classmethod
    def _count_as_text(cls, value: object) -> object:
        # `sample_turns = 3` is the natural TOML for "3"; a bool is no count.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def trace_files(self) -> list[Path]:
        """The suite's files, relative to its task's folder (the suite folder's parent),
        however the suite's own path was given."""
        base = Path(self.path).absolute().parent.parent
        return [base / file for file in self.files]

    def prompt_file(self) -> Path | None:
        """The suite's prompt file, relative to the suite file."""
        return Path(self.path).parent / self.prompt if self.prompt else None

    def overrides(self) -> list[str]:
        return [
            f"split.train={self.train_split}",
            "split.valid=0",
            f"split.test={round(1 - self.train_split, 10)}",
            f"judge={self.judge}",
            f"provider={self.provider}",
            f"seed={self.seed}",
            *([f"embedder.dim={self.embed_dim}"] if self.embed_dim is not None else []),
        ]


def load_suite(path: Path, task: str) -> Suite:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot read the suite (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite ({exc})") from None
    try:
        suite = Suite.model_validate({**data, "task": task, "name": path.stem, "path": str(path)})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_problem(exc)}") from None
    return suite


def all_suites(examples_dir: Path | None = None) -> tuple[list[Suite], list[str]]:
    """Every example's suites that load, and why each other one does not (one broken suite
    file does not hide the rest)."""
    suites, broken = [], []
    for task in find_examples(examples_dir):
        for path in task.suites:
            try:
                suites.append(load_suite(path, task.name))
            except ConfigError as exc:
                broken.append(str(exc))
    return suites, broken


def resolve_suite(ref: str, examples_dir: Path | None = None) -> Suite:
    """`task` (its `default` suite), `task/suite`, or a path to a suite file."""
    candidate = Path(ref)
    if candidate.suffix == ".toml" and candidate.is_file():
        return load_suite(candidate, candidate.absolute().parent.parent.name)
    task_name, _, suite_name = ref.partition("/")
    tasks: dict[str, ExampleTask] = {t.name: t for t in find_examples(examples_dir)}
    task = tasks.get(task_name)
    if task is None:
        raise ConfigError(
            f"no suite '{ref}': no example task '{task_name}' "
            f"(available: {', '.join(tasks) or 'none'})"
        )
    wanted = suite_name or "default"
    for path in task.suites:
        if path.stem == wanted:
            return load_suite(path, task.name)
    names = ", ".join(p.stem for p in task.suites) or "none"
    raise ConfigError(f"example '{task.name}' has no suite '{wanted}' (suites: {names})")

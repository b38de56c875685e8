"""Where each DVC stage's outputs live (`<root>/pipeline/<name>/`, the paths `dvc.yaml` names),
and how a stage writes and reads them: every file through a temporary name first, so an
interrupted stage never leaves a half-written output."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from wmh.core.types import Trace
from wmh.errors import StoreError


class StageDir:
    """Where each stage's outputs live: `<root>/pipeline/<name>/` (the paths `dvc.yaml` names)."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.base = Path(root) / "pipeline" / name
        self.ingest = self.base / "ingest"
        self.split = self.base / "split"
        self.index = self.base / "index"
        self.prompts = self.base / "prompts"
        self.eval = self.base / "eval"

    def metrics(self, stage: str) -> Path:
        return self.base / f"{stage}.json"

    def plot(self, name: str) -> Path:
        return self.base / "plots" / f"{name}.json"

    def plots_of(self, stage: str) -> Path:
        """A folder of plots that may be empty (a stage that had nothing to draw)."""
        return self.base / "plots" / stage


def dump_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """A fresh directory that replaces `path` only when the block finishes. A failed block
    leaves nothing behind (nor the folders made for it); a killed stage's leftover temporary
    directory is removed by the next run of that stage."""
    created = []
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            break
        created.append(folder)  # the deepest first
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:  # something else was written there meanwhile
                break
        raise
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)


def trace_line(trace: Trace) -> bytes:
    """A trace as its line in a stage's traces file."""
    return trace.model_dump_json().encode() + b"\n"


def read_json(path: Path, stage: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(f"{path} is missing: run the {stage} stage first (dvc repro)") from None
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from None


def iter_traces(path: Path, stage: str) -> Iterator[Trace]:
    """The traces of a stage's file, one at a time (none held here)."""
    if not path.is_file():
        raise StoreError(f"{path} is missing: run the {stage} stage first (dvc repro)")
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    trace = Trace.model_validate_json(line)
                except ValueError as exc:
                    raise StoreError(f"{path}:{number}: not a trace ({exc})") from None
                yield trace

"""MLflow logging from a side process that starts with the build.

Importing MLflow takes about a second and creating a new store (its SQLite schema) another one
and a half; logged in process, both followed the build's own work. A build that tracks starts
this process first: it imports MLflow and opens the store while the build ingests and indexes on
the other core, then logs the one run it is handed at the end (tens of milliseconds) and answers
with its id. If it cannot (it died, it failed, it does not answer), the build logs in process as
before: tracking never costs a finished build.

Run as `python -m wmh.tracking.side SETUP`: SETUP is JSON `{"root": ..., "open_store": bool}`;
then one JSON line on stdin holds `log_run`'s arguments, and one on stdout answers
`{"run_id": ...}` or `{"error": ...}`. An empty stdin (the build failed) ends it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 120.0  # to log one run, once the store is open
_current: contextvars.ContextVar[SideTracker | None] = contextvars.ContextVar(
    "wmh_side_tracker", default=None
)


class SideTracker:
    """The side process of one build, for one store root."""

    def __init__(self, root: str | Path, open_store: bool = True) -> None:
        self.root = str(Path(root).resolve())
        setup = json.dumps({"root": self.root, "open_store": open_store})
        self._process: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "wmh.tracking.side", setup],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def log_run(self, **request: Any) -> str:
        """The run logged by the side process (`log_run`'s arguments); its id. Raises
        RuntimeError when the process could not log it."""
        process, self._process = self._process, None
        if process is None:
            raise RuntimeError("the side process was already used or closed")
        try:
            out, _ = process.communicate(json.dumps(request, default=str), ANSWER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"no answer in {ANSWER_TIMEOUT_S:.0f} s") from None
        lines = out.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            answer = {}
        if "run_id" in answer:
            return str(answer["run_id"])
        raise RuntimeError(answer.get("error") or f"it exited with {process.returncode}")

    def close(self) -> None:
        """End the process if it was never handed a run (its stdin closes: it exits)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.communicate("", timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@contextmanager
def tracking_ahead(root: str | Path, open_store: bool = True) -> Iterator[SideTracker | None]:
    """A side process for the runs logged under `root` while the block runs (none if it cannot
    start: the run is then logged in process)."""
    try:
        tracker: SideTracker | None = SideTracker(root, open_store)
    except OSError as exc:
        log.warning("cannot start MLflow's side process (%s); logging in process", exc)
        tracker = None
    token = _current.set(tracker)
    try:
        yield tracker
    finally:
        _current.reset(token)
        if tracker is not None:
            tracker.close()


def side_tracker(root: str | Path | None) -> SideTracker | None:
    """The side process started for this store root, if any."""
    tracker = _current.get()
    if tracker is None or root is None or tracker.root != str(Path(root).resolve()):
        return None
    return tracker


def _serve(setup: dict[str, Any]) -> dict[str, Any]:
    from wmh.tracking.mlflow_runs import log_run, open_store

    if setup.get("open_store"):
        try:
            open_store(setup["root"])
        except Exception:  # noqa: BLE001 - log_run meets the same fault and reports it
            pass
    line = sys.stdin.readline()
    if not line.strip():
        return {}
    request = json.loads(line)
    return {"run_id": log_run(**request)}


def main() -> None:
    try:
        answer = _serve(json.loads(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - the build logs in process instead
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    if answer:
        print(json.dumps(answer), flush=True)
    # The run is written (logged synchronously, the run ended): leave without MLflow's exit
    # handlers, which the build would otherwise wait for.
    os._exit(0)


if __name__ == "__main__":
    main()

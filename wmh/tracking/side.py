"""MLflow logging from a side process that starts with the build.

Importing MLflow takes about a second and creating a new store (its SQLite schema) another one
and a half; logged in process, both followed the build's own work. A build that tracks starts
this process first: it imports MLflow and opens the store while the build ingests and indexes on
the other core, then logs the one run it is handed at the end (tens of milliseconds) and answers
with its id. If it cannot (it died, it failed, it does not answer), the build logs in process as
before: tracking never costs a finished build.

Run as `python -m wmh.tracking.side SETUP`: SETUP is JSON `{"root": ...}`;
then one JSON line on stdin holds `log_run`'s arguments, and one on stdout answers
`{"run_id": ...}`, `{"error": ...}`, or `{"unavailable": ...}` when MLflow cannot be imported
without the modules it keeps out (nothing logged: the build logs in process). An empty stdin
(the build failed) ends it.
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

# MLflow imports these for datasets, evaluation and model signatures, which a run of params,
# metrics, tags and files never uses: kept out of the side process, MLflow imports in 0.7 s
# instead of 1.0 and holds 90 MB instead of 165 (beside a 100k-step build, with its store open,
# the process held 152 MB instead of 228). Should a MLflow need one, the side process says it
# is unavailable and the build logs in process.
NOT_IMPORTED = ("pandas", "pyarrow", "scipy")
ANSWER_TIMEOUT_S = 120.0  # to log one run, once the store is open
CLOSE_TIMEOUT_S = 60.0  # to finish opening the store when the build ends without a run
_current: contextvars.ContextVar[SideTracker | None] = contextvars.ContextVar(
    "wmh_side_tracker", default=None
)


class SideUnavailable(RuntimeError):
    """The side process is gone before it was handed the run: log it in process."""


class SideFailed(RuntimeError):
    """The side process was handed the run and did not log it (it may have begun a run): logging
    it again in process could make a second run of the same build."""


class SideTracker:
    """The side process of one build, for one store root. It runs in its own session (Ctrl-C at
    the terminal does not stop it half-way through creating a store's schema), and imports the
    `wmh` the build runs (its package directory first on the path, not the working directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(Path(root).resolve())
        if not sys.executable:
            raise OSError("no Python executable to start")
        setup = json.dumps({"root": self.root})
        package = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (package, os.environ.get("PYTHONPATH", "")) if p)
        self._process: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-P", "-m", "wmh.tracking.side", setup],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,
        )

    def log_run(self, **request: Any) -> str:
        """The run logged by the side process (`log_run`'s arguments); its id. Raises
        SideUnavailable when the process is gone (nothing was logged), SideFailed when it was
        handed the run and did not answer with its id."""
        message = json.dumps(request, default=str) + "\n"  # before the process is handed on
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            if process is not None:
                process.communicate()
            raise SideUnavailable("the side process is gone")
        try:
            out, _ = process.communicate(message, ANSWER_TIMEOUT_S)
        except KeyboardInterrupt:  # it runs in its own session: Ctrl-C stops it here
            process.kill()
            process.communicate()
            raise
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise SideFailed(f"no answer in {ANSWER_TIMEOUT_S:.0f} s") from None
        except OSError as exc:  # the pipe broke: it died as it was handed the run
            process.kill()
            process.communicate()
            raise SideFailed(f"the pipe broke ({exc})") from None
        lines = out.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            answer = {}
        if isinstance(answer, dict) and "run_id" in answer:
            return str(answer["run_id"])
        if isinstance(answer, dict) and "unavailable" in answer:  # it logged nothing
            raise SideUnavailable(str(answer["unavailable"]))
        error = answer.get("error") if isinstance(answer, dict) else None
        raise SideFailed(error or f"it exited with {process.returncode} and no answer")

    def close(self) -> None:
        """End the process if it was never handed a run: its input ends, and it exits once the
        store is open (killed only if that takes `CLOSE_TIMEOUT_S`)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.communicate("", timeout=CLOSE_TIMEOUT_S)
        except KeyboardInterrupt:
            process.kill()
            process.communicate()
            raise
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@contextmanager
def tracking_ahead(root: str | Path) -> Iterator[SideTracker | None]:
    """A side process for the runs logged under `root` while the block runs (none if it cannot
    start: the run is then logged in process)."""
    try:
        tracker: SideTracker | None = SideTracker(root)
    except (OSError, ValueError) as exc:
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
    from wmh.core.locks import file_lock
    from wmh.tracking.mlflow_runs import log_run, open_store

    try:
        import mlflow  # noqa: F401 - that it needs none of NOT_IMPORTED, before the run
    except ImportError as exc:
        sys.stdin.readline()  # the run (or the end), answered: log it in process
        return {"unavailable": f"MLflow cannot be imported here ({exc})"}

    try:  # one process at a time (sweep members start together on a new store)
        with file_lock(Path(setup["root"]) / ".mlflow-open.lock"):
            open_store(setup["root"])
    except Exception:  # noqa: BLE001 - log_run meets the same fault and reports it
        pass
    line = sys.stdin.readline()
    if not line.strip():
        return {}
    request = json.loads(line)
    return {"run_id": log_run(**request)}


def main() -> None:
    for module in NOT_IMPORTED:  # an import of one raises ImportError
        sys.modules.setdefault(module, None)  # type: ignore[arg-type]
    try:
        answer = _serve(json.loads(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - answered: the build warns (no second run)
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    if answer:
        try:
            print(json.dumps(answer), flush=True)
        except BrokenPipeError:  # the build is gone: nobody to answer
            pass
    # The run is written (logged synchronously, the run ended): leave without MLflow's exit
    # handlers, which the build would otherwise wait for.
    os._exit(0)


if __name__ == "__main__":
    main()

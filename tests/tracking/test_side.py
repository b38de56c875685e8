"""A tracked build logs its MLflow run from a side process started with it (MLflow imported and
its store opened while the build works); if that process is gone, the build logs in process; if
it was handed the run and failed, the build does not log a second run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest

from tests.conftest import make_settings
from tests.serving.servers import free_port
from wmh.errors import WmhError
from wmh.pipeline.build import build_world_model
from wmh.tracking import builds
from wmh.tracking.side import SideFailed, SideTracker


@pytest.fixture
def clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MLFLOW_* variables (runs go to the store under the build's root); MLflow's
    process-wide tracking URI, which logging in process sets, as it was after the test."""
    before = mlflow.get_tracking_uri()  # (the suite's store, from its environment)
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    yield
    mlflow.set_tracking_uri(before)


def _after_start(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[subprocess.Popen[str]], object]
) -> None:
    """`then` each side process as soon as it is started."""
    start = SideTracker.__init__

    def started(self: SideTracker, *args: object, **kwargs: object) -> None:
        start(self, *args, **kwargs)  # type: ignore[arg-type]
        assert self._process is not None
        then(self._process)

    monkeypatch.setattr(SideTracker, "__init__", started)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[str]]:
    """The side processes started, in order."""
    processes: list[subprocess.Popen[str]] = []
    _after_start(monkeypatch, processes.append)
    return processes


def _client(root: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{root.resolve() / 'mlflow.db'}")


def _build(root: Path, corpus: Path) -> str:
    settings = make_settings(root, "tracked", [corpus], "track=true")
    return build_world_model(settings).card.mlflow_run_id or ""


def _in_process(*args: object, **kwargs: object) -> str:
    raise AssertionError("logged in process")


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_tracked_build_logs_its_run_from_the_side_process(
    tmp_path: Path,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
) -> None:
    monkeypatch.setattr(builds, "log_run", _in_process)
    run_id = _build(tmp_path, synthetic_corpus)
    run = _client(tmp_path).get_run(run_id)
    assert run.data.params["name"] == "tracked"
    assert run.data.tags["wmh.kind"] == "build"
    assert run.data.metrics["heldout.fidelity"] > 0.5
    assert "metrics.json" in {a.path for a in _client(tmp_path).list_artifacts(run_id)}
    assert [p.returncode for p in started] == [0]  # it answered and left


@pytest.mark.usefixtures("clean_mlflow_env")
def test_the_build_logs_in_process_when_the_side_process_is_gone(
    tmp_path: Path,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
) -> None:
    _after_start(monkeypatch, lambda process: (process.kill(), process.wait()))
    run_id = _build(tmp_path, synthetic_corpus)
    assert _client(tmp_path).get_run(run_id).data.tags["wmh.model"] == "tracked"
    assert [p.returncode for p in started] == [-9]


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_run_the_side_process_failed_is_not_logged_again(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(self: SideTracker, **request: object) -> str:
        self.close()
        raise SideFailed("no answer in 120 s")

    logged: list[object] = []
    monkeypatch.setattr(SideTracker, "log_run", fails)
    monkeypatch.setattr(builds, "log_run", lambda *args, **kwargs: logged.append(kwargs) or "x")
    assert _build(tmp_path, synthetic_corpus) == ""  # the model is built, without a run id
    assert logged == []


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_failed_build_ends_its_side_process(
    tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(WmhError):
        _build(tmp_path, empty)
    assert [p.returncode for p in started] == [0]  # its input ended; it left on its own


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_side_process_answers_a_failed_run_with_its_error(tmp_path: Path) -> None:
    tracker = SideTracker(tmp_path)
    with pytest.raises(SideFailed, match="TypeError"):
        tracker.log_run(experiment="e", run_name="r", params={}, metrics={}, artifacts=[],
                        unknown=1)  # fmt: skip


@pytest.mark.usefixtures("clean_mlflow_env")
def test_the_build_logs_in_process_when_mlflow_needs_a_module_the_side_process_keeps_out(
    tmp_path: Path,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
) -> None:
    """A MLflow that imports pandas (kept out of the side process) cannot be imported there:
    the side process says so, logs nothing, and the build logs its run in process."""
    shadow = tmp_path / "shadow" / "mlflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("import pandas\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))  # the side process's MLflow only
    in_process: list[str] = []
    log_run = builds.log_run
    monkeypatch.setattr(
        builds, "log_run", lambda *a, **k: in_process.append("run") or log_run(*a, **k)
    )
    run_id = _build(tmp_path, synthetic_corpus)
    assert in_process == ["run"]
    assert _client(tmp_path).get_run(run_id).data.tags["wmh.model"] == "tracked"
    assert [p.returncode for p in started] == [0]


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_tracking_server_that_is_down_is_said_at_once_and_the_model_still_published(
    tmp_path: Path,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MLflow retried a server that refused for two minutes, in the side process and then in
    the build, which then warned "no answer in 120 s"."""
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:pw@127.0.0.1:{port}")
    assert _build(tmp_path, synthetic_corpus) == ""
    said = f"the MLflow server at http://***@127.0.0.1:{port} does not answer (Connection refused)"
    assert said in caplog.text and "pw@" not in caplog.text
    assert (tmp_path / "models" / "tracked" / "model.json").is_file()
    assert [p.returncode for p in started] == [0]


@pytest.mark.usefixtures("clean_mlflow_env")
@pytest.mark.parametrize(
    ("command", "instead"),
    [
        (["eval", "files", "--name", "records", "--limit", "1", "--out", "{out}"], "--no-mlflow"),
        (
            ["study", "seeds", "--file", "{corpus}", "-o", "study.seeds=1", "--out", "{out}"],
            "--no-mlflow",
        ),
        (["eval", "sim2real", "terminal-tasks", "--episodes", "1"], "--no-track"),
    ],
)
def test_an_eval_or_study_with_the_tracking_server_down_stops_before_the_work(
    built_model: Path, synthetic_corpus: Path, tmp_path: Path, command: list[str], instead: str
) -> None:
    import sys

    port = free_port()  # nothing listens there
    args = [
        a.replace("{corpus}", str(synthetic_corpus)).replace("{out}", str(tmp_path / "out"))
        for a in command
    ]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), *args, "--root", str(built_model.parents[1])],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
        env={**os.environ, "COLUMNS": "400", "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and "Traceback" not in said
    assert (
        f"error: the MLflow server at http://127.0.0.1:{port} does not answer (Connection "
        f"refused): start it, or run with {instead}" in said
    )
    assert not (tmp_path / "out").exists()
    assert not list(built_model.parents[1].glob("evals/terminal-tasks/sim2real-*.json"))


def test_ctrl_c_while_the_side_process_logs_ends_it(tmp_path: Path) -> None:
    """It runs in its own session, so Ctrl-C at the terminal reaches only the build: left
    running, it wrote a traceback to the terminal minutes later."""
    tracker = SideTracker(tmp_path)
    process = tracker._process
    assert process is not None
    communicate = process.communicate
    calls = []

    def interrupted(*args: object, **kwargs: object) -> tuple[str, str]:
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return communicate()

    process.communicate = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        tracker.log_run(experiment="e", run_name="r", params={}, metrics={}, artifacts=[])
    assert process.poll() == -9


def test_a_server_reached_through_a_proxy_is_not_probed_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MLflow's client goes through $HTTP_PROXY: a direct connection failing says nothing."""
    from wmh.tracking.mlflow_runs import server_problem

    port = free_port()  # nothing listens there
    assert "refused" in server_problem(f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    assert server_problem(f"http://mlflow.internal:{port}") == ""

"""A tracked build logs its MLflow run from a side process started with it (MLflow imported and
its store opened while the build works); if that process cannot, the build logs in process."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from tests.conftest import make_settings
from wmh.pipeline.build import build_world_model
from wmh.tracking import builds, side
from wmh.tracking.side import SideTracker


@pytest.fixture
def clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)


def _run_of(root: Path, run_id: str) -> mlflow.entities.Run:
    return mlflow.MlflowClient(f"sqlite:///{root.resolve() / 'mlflow.db'}").get_run(run_id)


def _build(root: Path, corpus: Path) -> str:
    settings = make_settings(root, "tracked", [corpus], "track=true")
    return build_world_model(settings).card.mlflow_run_id or ""


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_tracked_build_logs_its_run_from_the_side_process(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def in_process(*args: object, **kwargs: object) -> str:
        raise AssertionError("logged in process")

    monkeypatch.setattr(builds, "log_run", in_process)
    run_id = _build(tmp_path, synthetic_corpus)
    run = _run_of(tmp_path, run_id)
    assert run.data.params["name"] == "tracked"
    assert run.data.tags["wmh.kind"] == "build"
    assert run.data.metrics["heldout.fidelity"] > 0.5
    assert "metrics.json" in {
        a.path
        for a in mlflow.MlflowClient(
            f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
        ).list_artifacts(run_id)
    }
    assert side._current.get() is None  # the build's side process is gone with it


@pytest.mark.usefixtures("clean_mlflow_env")
def test_the_build_logs_in_process_when_the_side_process_cannot(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(self: SideTracker, **request: object) -> str:
        self.close()
        raise RuntimeError("it exited with -9")

    monkeypatch.setattr(SideTracker, "log_run", dies)
    run_id = _build(tmp_path, synthetic_corpus)
    assert _run_of(tmp_path, run_id).data.tags["wmh.model"] == "tracked"


@pytest.mark.usefixtures("clean_mlflow_env")
def test_a_side_process_answers_a_failed_run_with_its_error_and_one_never_used_exits(
    tmp_path: Path,
) -> None:
    tracker = SideTracker(tmp_path)
    with pytest.raises(RuntimeError, match="TypeError"):
        tracker.log_run(experiment="e", run_name="r", params={}, metrics={}, artifacts=[],
                        unknown=1)  # fmt: skip
    idle = SideTracker(tmp_path)
    process = idle._process
    assert process is not None
    idle.close()
    assert process.returncode == 0  # it read an empty request and left

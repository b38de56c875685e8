"""Shared fixtures: the hand-written trace files, a synthetic corpus and a built model."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wmh.offline import OFFLINE_DEFAULTS, apply_offline_defaults

# The suite owns its process, as the CLI does: offline, quiet and without telemetry.
apply_offline_defaults()
# Every MLflow run of the suite (and of the CLI subprocesses it starts) goes to a throw-away store.
_MLFLOW_DIR = tempfile.mkdtemp(prefix="wmh-tests-mlflow-")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_MLFLOW_DIR}/mlflow.db"

from wmh.config.compose import compose_config, to_settings  # noqa: E402
from wmh.config.schema import WmhConfig  # noqa: E402
from wmh.ingest.synthetic import write_corpus  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_settings(root: Path, name: str, files: list[Path], *overrides: str) -> WmhConfig:
    """Settings for a test build; MLflow tracking is off unless an override turns it on. An LLM
    build answers every tool with the LLM (the scripted server's echo would lose every tool to
    replay) unless an override asks for the per-tool choice (tests/engine/test_llm_routing.py)."""
    listed = ",".join(f"'{f}'" for f in files)
    base = [f"name={name}", f"root='{root}'", f"data.files=[{listed}]", "track=false"]
    base.append("predictor.route=llm")
    return to_settings(compose_config([*base, *overrides]))


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "records.jsonl", traces=200, seed=7)


@pytest.fixture(scope="session")
def built_model(tmp_path_factory: pytest.TempPathFactory, synthetic_corpus: Path) -> Path:
    from wmh.pipeline.build import build_world_model

    root = tmp_path_factory.mktemp("store")
    result = build_world_model(make_settings(root, "records", [synthetic_corpus]))
    return result.path


@pytest.fixture
def fake_llm():  # noqa: ANN201
    from tests.fake_llm import FakeLLMServer

    with FakeLLMServer() as fake:
        yield fake


def wmh_build(root: Path, name: str, *args: str) -> None:
    """`wmh build --name NAME --root ROOT ARGS` as a user runs it; the model must be published."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "build", "--name", name, "--root", str(root),
         "--no-interactive", "-o", "track=false", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (root / "models" / name / "model.json").is_file()


def python_without_offline_defaults(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter whose environment has none of wmh's offline defaults (the
    suite's own process has them all), as a host application would run it."""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )

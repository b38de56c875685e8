"""Refusals and failures of the DVC stages, the Hydra entry and `wmh package`: a GEPA run whose
calls failed, a failing sweep member, a folder Hydra cannot make, a model that cannot load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply, echo_environment
from wmh.errors import ProviderError
from wmh.pipeline.stages import run_stage

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_stages_refuse_to_publish_when_every_gepa_call_failed(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """`wmh build` refuses a model whose GEPA calls failed at the provider (check_provider_errors
    on evolved.provider_calls/failures). The optimize stage never checks, and the evaluate stage's
    `_load_evolved` drops provider_calls/provider_failures from evolve.json, so the same outage
    during `dvc repro`'s optimize stage published the model (GEPA 30 of 30 calls failed)."""
    settings = make_settings(
        tmp_path, "gf", [synthetic_corpus],
        "provider=openai_compatible", "provider.model=openai/env",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
        "provider.timeout=5", "gepa.budget=20", "gepa.valset_size=6",
    )  # fmt: skip
    for stage in ("ingest", "split", "index"):
        run_stage(stage, settings)
    calls = {"n": 0}

    def down_after_preflight(body: dict) -> Reply:
        calls["n"] += 1
        return echo_environment(body) if calls["n"] == 1 else Reply(status=500)

    fake_llm.default = down_after_preflight
    try:
        run_stage("optimize", settings)
    except ProviderError:
        return  # refusing here is right
    fake_llm.default = echo_environment  # the provider is back for the evaluate stage
    with pytest.raises(ProviderError, match="GEPA"):
        run_stage("evaluate", settings)
        run_stage("package", settings)
    assert not (tmp_path / "models" / "gf").exists()


def test_one_failing_sweep_member_does_not_drop_the_others(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """`python -m wmh.build -m ... retrieval.top_k=0,3`: member 0 fails its settings check and
    calls sys.exit(1) inside the Hydra job (wmh/build.py), which ends the whole sweep: member 1
    was never built, and nothing said so. (With hydra/launcher=joblib the members under way were
    killed too.)"""
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "-m", "name=sw", f"root={tmp_path / 'store'}",
         f"data.files=[{synthetic_corpus}]", "track=false", "retrieval.top_k=0,3"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert (tmp_path / "store" / "models" / "sw-1" / "model.json").is_file(), done.stderr
    assert "sw-0" in done.stderr, done.stderr  # the error names the member that failed


@pytest.mark.slow
def test_package_refuses_a_model_that_cannot_load(built_model: Path, tmp_path: Path) -> None:
    """`wmh package` reads only model.json (serving/package.py): a model whose index lost
    steps.jsonl (load_world_model refuses it) was imported into BentoML and built into a bento
    that fails at `bentoml serve` ("Initializing service error")."""
    import shutil

    root = tmp_path / "store"
    damaged = root / "models" / "records"
    shutil.copytree(built_model, damaged)
    (damaged / "index" / "steps.jsonl").unlink()
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    done = subprocess.run(
        [str(BIN / "wmh"), "package", "--name", "records", "--root", str(root)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "steps.jsonl" in done.stdout + done.stderr
    assert not (tmp_path / "bentoml" / "bentos").exists() or not any(
        (tmp_path / "bentoml" / "bentos").iterdir()
    )


@pytest.mark.parametrize("folder", ["hydra.run.dir", "root"])
def test_a_folder_hydra_cannot_make_is_one_line(
    tmp_path: Path, synthetic_corpus: Path, folder: str
) -> None:
    """hydra.run.dir=/proc/nope (or root=, under which Hydra makes its run folder) printed two
    chained FileNotFoundError tracebacks from inside Hydra."""
    store = "" if folder == "root" else f"root={tmp_path / 'store'}"
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "name=h", *([store] if store else []),
         f"data.files=[{synthetic_corpus}]", "track=false", f"{folder}=/proc/nope"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {folder}=/proc/nope: cannot create that folder (No such file or directory)"
    )

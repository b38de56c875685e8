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


def _gepa_stages(tmp_path: Path, corpus: Path, fake_llm: FakeLLM):  # noqa: ANN202
    settings = make_settings(
        tmp_path, "gf", [corpus],
        "provider=openai_compatible", "provider.model=openai/env",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
        "provider.timeout=5", "gepa.budget=20", "gepa.valset_size=6",
    )  # fmt: skip
    for stage in ("ingest", "split", "index"):
        run_stage(stage, settings)
    return settings


def test_the_optimize_stage_refuses_a_gepa_run_whose_calls_failed(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """`wmh build` refuses a model whose GEPA calls failed at the provider; the optimize stage
    did not check, and `dvc repro` published a model whose 30 of 30 GEPA calls had failed."""
    settings = _gepa_stages(tmp_path, synthetic_corpus, fake_llm)
    calls = {"n": 0}

    def down_after_preflight(body: dict) -> Reply:
        calls["n"] += 1
        return echo_environment(body) if calls["n"] == 1 else Reply(status=500)

    fake_llm.default = down_after_preflight
    with pytest.raises(ProviderError, match="GEPA calls failed at the provider"):
        run_stage("optimize", settings)
    assert not list((tmp_path / "pipeline" / "gf").glob("prompts/evolve.json"))


def test_the_evaluate_stage_reads_the_gepa_failures_the_optimize_stage_wrote(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """The evaluate stage read evolve.json without its provider failure counts, so a GEPA run
    whose calls failed (an optimize stage from before it refused them) passed its check."""
    import json

    settings = _gepa_stages(tmp_path, synthetic_corpus, fake_llm)
    fake_llm.default = echo_environment
    run_stage("optimize", settings)
    written = tmp_path / "pipeline" / "gf" / "prompts" / "evolve.json"
    evolved = json.loads(written.read_text())
    evolved.update(provider_calls=20, provider_failures=20)
    written.write_text(json.dumps(evolved))
    with pytest.raises(ProviderError, match="20 of 20 GEPA calls failed"):
        run_stage("evaluate", settings)


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


@pytest.mark.parametrize("override", ["hydra.run.dir=F/runs", "root=F/store", "root='F/store'"])
def test_a_folder_hydra_cannot_make_is_one_line(
    tmp_path: Path, synthetic_corpus: Path, override: str
) -> None:
    """A root (under which Hydra makes its run folder) or Hydra folder below a file printed two
    chained tracebacks from inside Hydra."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    given = override.replace("F", str(blocker))
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "name=h", f"data.files=[{synthetic_corpus}]",
         "track=false", given],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    key, _, value = given.partition("=")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {key}={value.strip(chr(39))}: cannot make that folder: {blocker} is a file"
    )


def test_printing_the_config_makes_no_folder(tmp_path: Path) -> None:
    """`--cfg job` prints the composed config and builds nothing: the folder checks make none
    (they used to, for root= and hydra.run.dir=, and for each value of a sweep)."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "--cfg", "job", "name=x", "root=made",
         "hydra.run.dir=run"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0 and "name: x" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_sweep_member_whose_settings_fail_does_not_drop_the_others(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """A member whose settings cannot be read (a seed out of range) exited the sweep at once."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "-m", "name=sw", f"root={tmp_path / 'store'}",
         f"data.files=[{synthetic_corpus}]", "track=false", "seed=99999999999999999999,1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert (tmp_path / "store" / "models" / "sw-1" / "model.json").is_file(), done.stderr
    assert "error: 1 sweep member failed: sw-0" in done.stderr


NO_NAME = "no model name: pass --name NAME (wmh build, wmh eval) or name=NAME (python -m wmh.build)"


def test_a_build_without_a_name_says_how_to_give_one_once(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """OmegaConf's "Structured config of type `WmhConfig` has missing mandatory value: name" was
    printed twice (Hydra's console log, then the error line); the run's log file keeps it."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", f"root={tmp_path / 'store'}",
         f"data.files=[{synthetic_corpus}]", "track=false"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {NO_NAME}"
    assert done.stdout == ""  # Hydra's console log is on stdout
    (log,) = (tmp_path / "store" / "hydra" / "runs").glob("*/*/build.log")
    assert log.read_text().endswith(f"[wmh.build][ERROR] - {NO_NAME}\n")

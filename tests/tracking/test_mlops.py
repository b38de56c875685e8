"""Hydra sweeps and MLproject entry points, tracked in MLflow; no run ever holds a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-canary-0123456789-never-log-me"


def _env(tmp_path: Path) -> dict[str, str]:
    # In-process MLflow calls may have left MLFLOW_* variables behind; start clean.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {
        **clean,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        "OPENAI_API_KEY": CANARY,
        "ANTHROPIC_API_KEY": CANARY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _runs(tmp_path: Path, experiment: str) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id])


def _assert_no_canary(tmp_path: Path) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert CANARY.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_a_two_member_sweep_gives_two_models_and_two_runs_in_one_experiment(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wmh.build",
            "-m",
            "name=sweep",
            f"data.files=[{synthetic_corpus}]",
            f"root={tmp_path / 'store'}",
            "retrieval.top_k=3,5",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "store" / "models").iterdir()) == [
        "sweep-0",
        "sweep-1",
    ]
    # Each member says which values it was built with, and `wmh list` shows them in a column.
    built = sorted(line for line in done.stdout.splitlines() if line.startswith("built sweep-"))
    assert [line.split(" at ")[0] for line in built] == [
        "built sweep-0 (retrieval.top_k=3)",
        "built sweep-1 (retrieval.top_k=5)",
    ]

    def listed(columns: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "wmh", "list", "--root", str(tmp_path / "store")],
            capture_output=True, text=True, env={**_env(tmp_path), "COLUMNS": str(columns)},
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    # At 80 columns the cells wrap but no header is cut.
    header = next(line for line in listed(80) if "name" in line).split()
    assert header == ["name", "provider", "steps", "held-out", "fit/copy", "GEPA", "built", "run",
                      "varied"]  # fmt: skip
    lines = listed(200)
    for member, top_k in (("sweep-0", 3), ("sweep-1", 5)):
        row = next(line for line in lines if line.startswith(f"{member} "))
        assert row.rstrip().endswith(f"retrieval.top_k={top_k}")
    runs = _runs(tmp_path, "sweep")
    assert sorted(r.data.params["retrieval.top_k"] for r in runs) == ["3", "5"]
    for run in runs:
        assert run.data.metrics["heldout.fidelity"] > 0.5
        # Counters are params; the metrics are the figures compared, fidelity first.
        assert int(run.data.params["counts.steps_ingested"]) > 1000
        assert "steps_ingested" not in run.data.metrics
        assert not [k for k in run.data.metrics if k.startswith(("split.", "heldout.tool."))]
        # The run lasts as long as the build worked, not as long as it took to log.
        lasted = (run.info.end_time - run.info.start_time) / 1000
        assert lasted >= run.data.metrics["time.total_s"] > 0
        # The description (shown above the metrics) states the score beside the copies.
        note = run.data.tags["mlflow.note.content"]
        fidelity = run.data.metrics["heldout.fidelity"]
        assert note.startswith(f"Held-out fidelity **{fidelity:.3f}** (95% interval ")
        assert f"nn_copy {run.data.metrics['heldout.baseline.nn_copy']:.3f}" in note
        assert run.data.tags["wmh.model_dir"].endswith(run.data.params["name"])
    _assert_no_canary(tmp_path)


@pytest.mark.slow
def test_mlflow_run_of_the_build_and_eval_entry_points(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    env = _env(tmp_path)
    store = tmp_path / "store"
    for entry, params in (
        ("build", ["-P", "name=mp", "-P", f"files={synthetic_corpus}", "-P", f"root={store}"]),
        ("eval", ["-P", "name=mp", "-P", f"root={store}", "-P", "limit=3"]),
        ("eval", ["-P", "name=mp", "-P", f"root={store}"]),  # every held-out trace (limit=all)
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlflow",
                "run",
                str(ROOT),
                "-e",
                entry,
                *params,
                "--env-manager",
                "local",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    runs = _runs(tmp_path, "Default")
    metrics = [r.data.metrics for r in runs if r.info.status == "FINISHED"]
    assert any("heldout.fidelity" in m for m in metrics)  # the build
    assert any("fidelity" in m and "baseline.nn_copy" in m for m in metrics)  # the eval
    # The two evals: limit=3 took three held-out traces, limit=all every one.
    from wmh.store.splits import part_trace_ids

    held = len(part_trace_ids(store / "models" / "mp", "test"))
    evals = [r for r in runs if r.info.status == "FINISHED" and "heldout.fidelity" not in
             r.data.metrics and "fidelity" in r.data.metrics]  # fmt: skip
    assert held > 3
    assert sorted(int(r.data.params["eval.traces"]) for r in evals) == [3, held]
    _assert_no_canary(tmp_path)

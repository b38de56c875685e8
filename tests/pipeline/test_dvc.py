"""`dvc repro` of the project's dvc.yaml in a fresh git repository: every stage runs once, a
second run does nothing, a params change reruns only what depends on it, and DVC's params,
metrics and experiments commands read the results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from wmh.pipeline.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {
        **clean,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "GIT_AUTHOR_NAME": "wmh tests",
        "GIT_AUTHOR_EMAIL": "tests@wmh.invalid",
        "GIT_COMMITTER_NAME": "wmh tests",
        "GIT_COMMITTER_EMAIL": "tests@wmh.invalid",
    }


class Repo:
    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            argv, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def ran(self, output: str) -> list[str]:
        return [s for s in STAGES if f"Running stage '{s}'" in output]

    def params(self, *overrides: str) -> None:
        self.run("wmh", "pipeline", "params", "name=t", "data.path=corpus.jsonl", *overrides)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, synthetic_corpus: Path) -> Repo:
    work = tmp_path / "project"
    work.mkdir()
    repo = Repo(work, _env(tmp_path))
    repo.run("git", "init", "-q")
    repo.run("dvc", "init", "-q")
    shutil.copy(ROOT / ".dvc" / "config", work / ".dvc" / "config")
    shutil.copy(ROOT / "dvc.yaml", work / "dvc.yaml")
    for name in ("bentofile.yaml", "requirements.lock"):
        shutil.copy(ROOT / name, work / name)
    # The sources the bentofile includes, as a clone of the project has them (a bento built
    # without them cannot run, and `wmh package` refuses to build one).
    shutil.copytree(ROOT / "wmh", work / "wmh", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(synthetic_corpus, work / "corpus.jsonl")
    (work / ".gitignore").write_text(".wmh/\n")
    repo.params()
    repo.commit("pipeline")
    return repo


def test_dvc_repro_reruns_only_what_changed_and_dvc_compares_runs_and_experiments(
    repo: Repo, tmp_path: Path
) -> None:
    first = repo.run("dvc", "repro")
    assert repo.ran(first) == list(STAGES)
    model = repo.path / ".wmh" / "models" / "t" / "model.json"
    assert model.is_file()
    assert "bento wmh-t:" in first  # the package stage built the bento too
    assert (tmp_path / "bentoml" / "bentos" / "wmh-t").is_dir()
    assert repo.ran(repo.run("dvc", "repro")) == []
    # The per-tool plot is bars of tool names against their fidelity, with the evaluate stage's
    # figures in it.
    shown = json.loads(repo.run("dvc", "plots", "show", "--json"))["data"]
    spec = shown[".wmh/pipeline/t/plots/per_tool.json"][0]["content"]
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["type"] == "nominal"
    drawn = {row["tool"]: row["fidelity"] for row in spec["data"]["values"]}
    evaluated = json.loads((repo.path / ".wmh/pipeline/t/plots/per_tool.json").read_text())
    assert drawn == {row["tool"]: row["fidelity"] for row in evaluated} and len(drawn) >= 3
    # GEPA was skipped (replay provider): its plot folder is empty, so no empty plot is drawn.
    assert not [k for k in shown if "gepa" in k]
    assert not list((repo.path / ".wmh/pipeline/t/plots/gepa").iterdir())
    # `dvc exp show` leads with the few named figures: fidelity, its interval, the copies.
    header = repo.run("dvc", "exp", "show", "--csv").splitlines()[0].split(",")
    figures = header[header.index("parent") + 1 : header.index("name")]
    assert figures == ["fidelity", "ci_low", "ci_high", "action_copy", "most_frequent",
                       "nn_copy", "error_flag_accuracy", "steps"]  # fmt: skip

    # An experiment: DVC's Hydra mode composes params.yaml from conf/ with the -S overrides,
    # and reruns only the stages that read retrieval.*.
    repo.commit("first build")
    out = repo.run(
        "dvc", "exp", "run", "-S", "name=t", "-S", "data.path=corpus.jsonl",
        "-S", "retrieval.top_k=2",
    )  # fmt: skip
    assert repo.ran(out) == ["optimize", "evaluate", "package"]
    assert json.loads(model.read_text())["top_k"] == 2  # the experiment's model is published
    rows = json.loads(repo.run("dvc", "exp", "show", "--json"))
    experiments = [
        exp["revs"][0]["data"]
        for row in rows
        for exp in (row.get("experiments") or [])
        if exp.get("revs")
    ]
    assert experiments, rows
    params = experiments[0]["params"]["params.yaml"]["data"]
    assert params["retrieval"]["top_k"] == 2
    # The composed file carries every key of conf/, not only the overridden ones.
    assert params["split"]["train"] == 0.8 and params["gepa"]["budget"] == 0

    # The experiment's results are in the workspace: DVC compares them with HEAD's.
    diff = json.loads(repo.run("dvc", "params", "diff", "--json"))
    top_k = diff["params.yaml"]["retrieval.top_k"]
    assert (top_k["old"], top_k["new"]) == (5, 2)
    shown = json.loads(repo.run("dvc", "metrics", "show", "--json"))
    metrics = next(iter(shown.values()))["data"]
    evaluate = metrics[".wmh/pipeline/t/evaluate.json"]["data"]
    assert 0.5 < evaluate["fidelity"] <= 1.0
    assert set(metrics) == {".wmh/pipeline/t/evaluate.json"}  # counts are not metrics
    ingested = json.loads((repo.path / ".wmh/pipeline/t/ingest.json").read_text())
    assert ingested["steps"] > 1000
    # Against HEAD's dvc.lock: the old figures come out of DVC's cache (`--all`: top_k does not
    # change what the replay model answers, so the figures may be equal).
    diff = json.loads(repo.run("dvc", "metrics", "diff", "--all", "--json"))
    fidelity = diff[".wmh/pipeline/t/evaluate.json"]["fidelity"]
    assert fidelity["new"] == evaluate["fidelity"] and 0.5 < fidelity["old"] <= 1.0

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    experiment = client.get_experiment_by_name("t")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["retrieval.top_k"] for r in runs) == ["2", "5"]

    # The bento serves with the published model's serve and reward settings: changing one
    # republishes it (no stage listed them, and `dvc repro` kept the old value).
    out = repo.run(
        "dvc", "exp", "run", "-S", "name=t", "-S", "data.path=corpus.jsonl",
        "-S", "retrieval.top_k=2", "-S", "serve.max_sessions=64",
    )  # fmt: skip
    assert repo.ran(out) == ["package"]
    published = yaml.safe_load((repo.path / ".wmh/models/t/config.yaml").read_text())
    assert published["serve"]["max_sessions"] == 64


def test_the_scaling_study_as_a_dvc_stage_with_its_plot(tmp_path: Path) -> None:
    """`dvc repro studies/dvc.yaml:scaling` on the root params.yaml; `dvc plots show` draws the
    curve from the stage's curve.json; plain `dvc repro` does not run the studies."""
    from wmh.ingest.synthetic import write_corpus

    work = tmp_path / "project"
    (work / "studies").mkdir(parents=True)
    repo = Repo(work, _env(tmp_path))
    repo.run("git", "init", "-q")
    repo.run("dvc", "init", "-q")
    shutil.copy(ROOT / ".dvc" / "config", work / ".dvc" / "config")
    shutil.copy(ROOT / "studies" / "dvc.yaml", work / "studies" / "dvc.yaml")
    write_corpus(work / "corpus.jsonl", traces=40, seed=3)
    (work / ".gitignore").write_text(".wmh/\n")
    repo.params(
        "study.sizes=[4,8]", "study.seeds=2", "track=false", "split.train=0.65", "split.test=0.25"
    )
    repo.commit("study")
    out = repo.run("dvc", "repro", "studies/dvc.yaml:scaling")
    assert "Running stage 'studies/dvc.yaml:scaling'" in out
    folder = work / ".wmh" / "studies" / "t" / "scaling"
    curve = json.loads((folder / "curve.json").read_text())
    assert [row["traces"] for row in curve][:2] == [4, 8]
    shown = json.loads(repo.run("dvc", "plots", "show", "--json"))["data"]
    values = shown["fidelity vs training traces"][0]["content"]["data"]["values"]
    drawn = {(v["field"], v["traces"]): v["dvc_inferred_y_value"] for v in values}
    for row in curve:
        assert drawn[("replay", row["traces"])] == pytest.approx(row["replay"])
        assert drawn[("nn_copy", row["traces"])] == pytest.approx(row["nn_copy"])
    assert "Stage 'studies/dvc.yaml:scaling' didn't change" in repo.run(
        "dvc", "repro", "studies/dvc.yaml:scaling"
    )

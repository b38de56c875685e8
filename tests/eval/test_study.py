"""`wmh study`: nested train subsets over a fixed test set, one MLflow run per member, the
summary's spread over seeds, the JSON and the plot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from wmh.core.types import Trace
from wmh.errors import ConfigError
from wmh.eval.study import nested_subsets, summarise, train_sizes
from wmh.eval.study_plot import plot_studies
from wmh.eval.study_report import StudyReport
from wmh.ingest.synthetic import write_corpus

AIRLINE = Path(__file__).resolve().parents[2] / "examples" / "airline" / "traces.otel.jsonl"


def test_subsets_are_nested_and_differ_by_seed() -> None:
    pool = [Trace(trace_id=f"t{i:03d}", steps=[]) for i in range(50)]
    sizes = train_sizes([5, 10, 20, 80], len(pool))
    assert sizes == [5, 10, 20, 50]  # 80 does not fit; the whole pool is the last point
    one, two = nested_subsets(pool, sizes, 0), nested_subsets(pool, sizes, 1)
    for small, large in zip(sizes, sizes[1:], strict=False):
        assert {t.trace_id for t in one[small]} <= {t.trace_id for t in one[large]}
    assert [t.trace_id for t in one[5]] != [t.trace_id for t in two[5]]
    # The pool's order does not choose the traces; each subset keeps it (the whole pool is
    # indexed in the order a build indexes it, so it scores as the build does).
    backwards = nested_subsets(list(reversed(pool)), sizes, 0)
    assert {n: {t.trace_id for t in s} for n, s in backwards.items()} == {
        n: {t.trace_id for t in s} for n, s in one.items()
    }
    assert one[50] == pool and backwards[50] == list(reversed(pool))
    assert [t.trace_id for t in one[5]] == sorted(t.trace_id for t in one[5])
    with pytest.raises(ConfigError, match="at least 1"):
        train_sizes([0, 5], 50)


@pytest.mark.slow
def test_scaling_study_through_the_cli_logs_a_run_per_member(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "200"}
    out = tmp_path / "study"
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "scaling", "--file", str(AIRLINE),
         "--root", str(tmp_path / "store"), "--out", str(out),
         "-o", "study.sizes=[5,20]", "-o", "study.seeds=2"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    members = results["members"]
    pool = max(m["train_traces"] for m in members)
    assert [(m["size"], m["seed"]) for m in members] == [
        (5, 0),
        (20, 0),
        (pool, 0),
        (5, 1),
        (20, 1),
    ]
    assert results["sizes"] == [5, 20, pool] and pool > 150
    assert len({m["test_traces"] for m in members}) == 1  # one fixed test set
    # The spread is real where the data differ (other subsets of 5 traces), none where they
    # cannot (the whole pool, one member).
    first, _, whole = results["summary"]
    assert first["seeds"] == 2 and first["std"]["replay"] > 0 and first["std"]["nn_copy"] > 0
    a, b = (m["scores"]["replay"] for m in members if m["size"] == 5)
    assert first["mean"]["replay"] == pytest.approx((a + b) / 2, abs=1e-6)
    assert first["std"]["replay"] == pytest.approx(abs(a - b) / 2**0.5, abs=1e-6)
    assert whole["seeds"] == 1 and whole["std"]["replay"] == 0
    # The whole pool scores as a build of the file does: its traces are indexed in the order a
    # build indexes them (a shuffled order broke ties otherwise: nn_copy 0.753, the build 0.746).
    built = subprocess.run(
        [sys.executable, "-m", "wmh", "build", "--name", "airline", "--file", str(AIRLINE),
         "--root", str(tmp_path / "store"), "-o", "track=false"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    card = json.loads((tmp_path / "store" / "models" / "airline" / "metrics.json").read_text())
    heldout = card["heldout"]["overall"]
    (all_of_it,) = (m for m in members if m["size"] == pool)
    assert all_of_it["scores"] == {"replay": heldout["score"], **heldout["baselines"]}
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = json.loads((out / "curve.json").read_text())
    assert [row["traces"] for row in curve] == [5, 20, pool]
    # One MLflow run per member, in one experiment, with its size and seed as params and its
    # scores as metrics; a summary run holds the plot and the JSON.
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study-scaling-airline")
    assert experiment is not None
    # Marked as model development, so MLflow's UI opens it on the runs table.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`wmh.kind` = 'study-member'", max_results=50
    )
    assert len(runs) == len(members)
    logged = {(int(r.data.params["study.size"]), int(r.data.params["study.seed"])): r for r in runs}
    for member in members:
        run = logged[(member["size"], member["seed"])]
        assert run.info.run_id == member["run_id"]
        assert run.data.metrics["fidelity.replay"] == pytest.approx(member["scores"]["replay"])
        assert run.data.params["embedder.kind"] == "hashing"
    (summary,) = client.search_runs([experiment.experiment_id], "tags.`wmh.kind` = 'study'")
    files = {a.path for a in client.list_artifacts(summary.info.run_id)}
    assert {"plot.png", "results.json", "curve.json"} <= files
    # Studies side by side; a file that is not a study's results is refused by name.
    both = tmp_path / "both.png"
    plotted = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "plot", str(out / "results.json"),
         str(out / "results.json"), "--out", str(both)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert plotted.returncode == 0 and both.read_bytes()[:4] == b"\x89PNG"
    one = plot_studies(
        [StudyReport.model_validate_json((out / "results.json").read_bytes())], tmp_path / "1.png"
    )
    # A panel (4.6 inches at 80 dpi) a study: a single study drew two empty ones beside it.
    assert [png_width(p) for p in (one, both)] == [368, 736]
    refused = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "plot", str(out / "curve.json"), "--out", str(both)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1 and "not a study's results.json" in refused.stderr
    damaged = json.loads((out / "results.json").read_text())
    del damaged["name"]
    (tmp_path / "damaged.json").write_text(json.dumps(damaged))
    said = plot_studies_error([tmp_path / "damaged.json"], tmp_path / "d.png")
    assert said.endswith("not a study's results.json (name: Field required; 1 problem in all)")
    # An image path matplotlib would write elsewhere (a folder: folder.png) or not at all.
    for where, said in (
        (tmp_path, "is a folder: --out names the image to write"),
        (tmp_path / "p.xyz", "the image's suffix names its format, one of"),
    ):
        bad = plot_studies_error([out / "results.json"], where)
        assert said in bad
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()
    with pytest.raises(ConfigError, match="columns must be at least 1, got 0"):
        plot_studies([StudyReport.model_validate_json((out / "results.json").read_bytes())],
                     tmp_path / "c.png", columns=0)  # fmt: skip


def png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")


def plot_studies_error(results: list[Path], out: Path) -> str:
    """What `wmh study plot` said on stderr, having failed."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "plot", *map(str, results), "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    return " ".join(done.stderr.split())


def test_seeds_study_summary_spreads_over_splits() -> None:
    from wmh.eval.study import Member

    members = [
        Member(size=40 + i, seed=i, train_traces=40 + i, test_traces=9, test_steps=50, scores=s)
        for i, s in enumerate([{"replay": 0.7}, {"replay": 0.8}, {"replay": 0.9}])
    ]
    (point,) = summarise(members, "seeds")
    assert point.seeds == 3 and point.size == 41
    assert point.mean["replay"] == pytest.approx(0.8) and point.std["replay"] == pytest.approx(0.1)


def test_with_an_llm_provider_members_score_the_llm_with_and_without_gepa(
    tmp_path: Path, fake_llm
) -> None:
    from tests.conftest import make_settings
    from tests.optimize.test_gepa import scripted
    from wmh.eval.study import run_study
    from wmh.ingest.synthetic import write_corpus

    fake_llm.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
    corpus = write_corpus(tmp_path / "c.jsonl", traces=40, seed=12)
    settings = make_settings(
        tmp_path, "llm-study", [corpus],
        "provider=openai_compatible", "provider.model=openai/env",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
        "provider.timeout=5", "predictor.cache=false",
        "gepa.reflection_model=openai/reflector", "gepa.valset_size=6", "gepa.budget=30",
        "gepa.minibatch_size=3", "split.train=0.75", "split.valid=0", "split.test=0.25",
        "study.sizes=[10]", "study.seeds=1", "study.sample_turns=first",
    )  # fmt: skip
    report, paths = run_study(settings, "scaling", tmp_path / "out")
    assert [m.size for m in report.members] == [10, report.members[-1].train_traces]
    for member in report.members:
        assert set(member.scores) == {
            "replay", "nn_copy", "action_copy", "most_frequent", "llm", "llm_gepa"
        }  # fmt: skip
        # The base prompt answers "nothing to report"; GEPA finds the prompt that copies.
        assert member.scores["llm_gepa"] > member.scores["llm"] + 0.1
    asked = {r["model"] for r in fake_llm.requests}
    assert asked == {"env", "reflector"}
    assert "llm_gepa" in json.loads((paths["curve"]).read_text())[0]


def test_a_study_checks_its_outputs_first_and_says_which_sizes_it_could_not_train(
    tmp_path: Path,
) -> None:
    """`--out` naming a file, or a place nothing may be written, failed with a traceback after
    every member had run; sizes beyond the traces there were went unmentioned; and one seed
    showed a spread of ± 0.000 it never measured."""
    corpus = tmp_path / "small.jsonl"
    write_corpus(corpus, traces=12, seed=2)
    taken = tmp_path / "taken"
    taken.write_text("a file")

    def study(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wmh", "study", "scaling", "--file", str(corpus),
             "--root", str(tmp_path / "store"), "--no-mlflow", "-o", "study.sizes=[3,50]",
             "-o", "study.seeds=1", *args],
            capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "400"},
        )  # fmt: skip

    for out, said in (
        (taken, f"--out {taken} is a file: give a folder for the study's results"),
        (Path("/proc/wmh-study"), "--out /proc/wmh-study: cannot write in /proc"),
    ):
        done = study("--out", str(out))
        assert done.returncode == 1 and said in " ".join(done.stderr.split())
        assert "[1/" not in done.stdout  # refused before the first member ran
    done = study("--out", str(tmp_path / "study"))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "study" / "results.json").read_text())
    pool = results["sizes"][-1]
    assert results["sizes"] == [3, pool] and results["beyond_pool"] == [50] and pool < 50
    said = " ".join(done.stdout.split())
    assert f"study.sizes 50: more than the {pool} traces there are to train on" in said
    assert "±" not in done.stdout
    under_file = taken / "x.png"
    bad = plot_studies_error([tmp_path / "study" / "results.json"], under_file)
    assert f"--out {under_file}: {taken} is a file, not a folder" in bad


def test_a_study_refuses_an_endpoint_with_credentials_before_anything_is_written(
    tmp_path: Path, fake_llm
) -> None:
    """Its settings go to results.json and every member's MLflow params: `wmh build` and
    `wmh eval` refused a URL with a password; the study took it and logged it."""
    from tests.fake_llm import echo_environment

    fake_llm.default = echo_environment
    corpus = tmp_path / "small.jsonl"
    write_corpus(corpus, traces=20, seed=2)
    secret_url = fake_llm.api_base.replace("http://", "http://user:hunter2pw@")
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "seeds", "--file", str(corpus),
         "--root", str(tmp_path / "store"), "--out", str(tmp_path / "study"),
         "-o", "study.seeds=1", "-o", "provider=openai_compatible",
         "-o", "provider.model=openai/x", "-o", f"provider.api_base={secret_url}"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "400", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"},
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said
    assert "provider.api_base carries credentials (http://***@127.0.0.1:" in said
    assert "hunter2pw" not in said
    assert not (tmp_path / "study").exists() and not fake_llm.requests


def _one_step_traces(count: int) -> list[Trace]:
    from wmh.core.types import Action, Observation, Step

    return [
        Trace(
            trace_id=f"trace-{i:03d}",
            steps=[
                Step(
                    action=Action(name="t", arguments={"n": i}),
                    observation=Observation(content=f"answer {i}"),
                    trace_id=f"trace-{i:03d}",
                    index=0,
                )
            ],
        )
        for i in range(count)
    ]


def test_the_seeds_study_re_splits_the_corpus_for_each_seed(tmp_path: Path) -> None:
    """Each seed holds out other traces (its own split salt): a bug splitting every seed with
    the config's salt would measure one split three times and show no spread."""
    from tests.conftest import make_settings
    from wmh.eval.study import _plan

    settings = make_settings(tmp_path, "seeds", [], "study.seeds=3")
    traces = _one_step_traces(60)
    sizes, members = _plan(settings, traces, "seeds")
    assert [seed for _, seed, _, _ in members] == [0, 1, 2]
    held_out = [frozenset(t.trace_id for t in test) for _, _, _, test in members]
    assert len(set(held_out)) == 3
    for size, _, train, test in members:
        assert size == len(train) and size in sizes
        assert sorted(t.trace_id for t in [*train, *test]) == [t.trace_id for t in traces]


def test_the_seeds_study_refuses_a_split_that_left_nothing_to_train_on(tmp_path: Path) -> None:
    """With almost every trace held out, a seed's split can leave no train trace: the study says
    so (a bug checking only the test part would index and fit nothing)."""
    from tests.conftest import make_settings
    from wmh.eval.study import _plan

    settings = make_settings(
        tmp_path, "seeds", [], "study.seeds=1", "split.train=0.01", "split.valid=0",
        "split.test=0.99",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"left 8 test and 0 train traces"):
        _plan(settings, _one_step_traces(8), "seeds")


def _limit_trace(number: int, limit: int) -> Trace:
    """As `tests/pipeline/test_fit_replay._traces`, with a limit no training trace set."""
    from wmh.core.types import Action, Observation, Step

    trace_id, item = f"x{number}", 5000 + number
    calls = [
        ("get_item", {"item_id": item}, json.dumps({"item_id": item, "name": f"item {item}",
                                                    "price": 10})),
        ("set_limit", {"limit": limit}, "limit was 50"),
    ]  # fmt: skip
    return Trace(
        trace_id=trace_id,
        steps=[
            Step(
                action=Action(name=name, arguments=arguments),
                observation=Observation(content=content),
                trace_id=trace_id,
                index=index,
                task="look up an item",
            )
            for index, (name, arguments, content) in enumerate(calls)
        ],
    )


def test_a_member_is_scored_with_the_policies_fitted_on_its_train_traces(tmp_path: Path) -> None:
    """The fit on the train traces switches `set_limit`'s adaptation off (it always answers
    "limit was 50"); every part on, the nearest recorded `set_limit 50` would answer "limit was
    5" for a new limit 5. A bug scoring the member with the designed parts would score below 1."""
    from tests.conftest import make_settings
    from tests.pipeline.test_fit_replay import _traces
    from wmh.eval.study import score_member

    settings = make_settings(tmp_path, "member", [])
    test = [_limit_trace(i, limit) for i, limit in enumerate((5, 500, 5000))]
    scores, report = score_member(settings, _traces(40), test, tmp_path / "work")
    assert report.overall.steps == 6
    assert scores["replay"] == pytest.approx(1.0)


def test_a_member_scores_the_turns_the_study_samples(tmp_path: Path) -> None:
    """`study.sample_turns=last` scores one step per test trace (a bug ignoring it would score
    every step)."""
    from tests.conftest import make_settings
    from tests.pipeline.test_fit_replay import _traces
    from wmh.eval.study import score_member

    test = [_limit_trace(i, 50) for i in range(3)]
    for turns, steps in (("all", 6), ("last", 3)):
        settings = make_settings(tmp_path, "member", [], f"study.sample_turns={turns}")
        _, report = score_member(settings, _traces(40), test, tmp_path / "work")
        assert report.overall.steps == steps and report.sample_turns == turns


def test_a_size_equal_to_the_pool_is_trained_and_each_member_logs_its_lead_over_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`study.sizes` naming exactly the traces there are to train on is the curve's last point,
    not a size "beyond the pool"; and each member's run logs how far replay leads the nearest
    copy (replay minus nn_copy: a sign flipped would show a lead as a lag)."""
    from tests.conftest import make_settings
    from wmh.eval.study import run_study
    from wmh.ingest.sources import ingest
    from wmh.ingest.split import split_with

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    corpus = write_corpus(tmp_path / "c.jsonl", traces=12, seed=2)
    probe = make_settings(tmp_path, "pool", [corpus])
    split = split_with(ingest(probe).traces, probe.split)
    pool = len(split.train) + len(split.valid)
    assert 3 < pool < 12
    settings = make_settings(
        tmp_path, "pool", [corpus], f"study.sizes=[3,{pool}]", "study.seeds=1", "track=true"
    )
    report, _ = run_study(settings, "scaling", tmp_path / "out")
    assert report.sizes == [3, pool] and report.beyond_pool == []
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study-scaling-pool")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`wmh.kind` = 'study-member'")
    assert len(runs) == len(report.members) == 2
    for member in report.members:
        (run,) = [r for r in runs if r.info.run_id == member.run_id]
        lead = member.scores["replay"] - member.scores["nn_copy"]
        assert run.data.metrics["replay_minus_nn_copy"] == pytest.approx(lead)
    assert any(m.scores["replay"] != m.scores["nn_copy"] for m in report.members)


def test_a_study_whose_llm_calls_all_fail_writes_no_scores(tmp_path: Path, fake_llm) -> None:
    """A provider that answers the first probe and fails every step's call: the study scored
    those failures as the LLM's answers (llm 0.150), exited 0 and wrote them; as `wmh build` and
    `wmh eval`, it now refuses, and nothing is written."""
    from tests.fake_llm import Reply

    fake_llm.script = [Reply("ok")]  # the check that the provider answers at all
    fake_llm.default = Reply(status=500)
    corpus = tmp_path / "small.jsonl"
    write_corpus(corpus, traces=20, seed=2)
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "study", "seeds", "--file", str(corpus),
         "--root", str(tmp_path / "store"), "--out", str(tmp_path / "study"), "--no-mlflow",
         "-o", "study.seeds=1", "-o", "provider=openai_compatible", "-o", "predictor.cache=false",
         "-o", "provider.model=openai/x", "-o", f"provider.api_base={fake_llm.api_base}",
         "-o", "provider.num_retries=0"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said
    assert re.search(
        r"(\d+) of \1 measured steps \(held-out\) failed at the provider.*no study result was "
        "written",
        said,
    ), said
    assert not (tmp_path / "study").exists()


def test_a_study_refused_at_a_later_member_leaves_no_runs_in_mlflow(
    tmp_path: Path, fake_llm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first member scored (and was logged), the second's provider failed: the study said
    "no study result was written" while the first member's run stayed in MLflow."""
    from tests.conftest import make_settings
    from tests.fake_llm import Reply, echo_environment
    from wmh.errors import ProviderError
    from wmh.eval.study import run_study

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    fake_llm.default = echo_environment
    corpus = write_corpus(tmp_path / "small.jsonl", traces=20, seed=2)
    settings = make_settings(
        tmp_path, "later", [corpus], "track=true", "study.seeds=2",
        "provider=openai_compatible", "provider.model=openai/x", "predictor.cache=false",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
    )  # fmt: skip

    def fail_from_now(*_: object) -> None:
        fake_llm.default = Reply(status=500)

    with pytest.raises(ProviderError, match="no study result was written"):
        run_study(settings, "seeds", tmp_path / "out", on_member=fail_from_now)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert runs == [] and not (tmp_path / "out").exists()

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wmh.eval.results import list_results, save_report, track_report
from wmh.eval.service import EvalOptions, evaluate
from wmh.eval.suites import resolve_suite
from wmh.scoring.runner import LoopMode


def test_open_loop_beats_both_baselines_and_is_leak_free(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    report = evaluate([synthetic_corpus], root=tmp_path, options=EvalOptions(track=False))
    assert report.mode is LoopMode.OPEN and report.overall.steps > 50
    assert report.overall.score > report.overall.baselines["nn_copy"]
    assert report.overall.score > report.overall.baselines["most_frequent"]
    # Leak-free: no answer was taken from a recording of the trace being scored.
    taken = [(r.trace_id, r.from_step.rsplit(":", 1)[0]) for r in report.steps if r.from_step]
    assert len(taken) > report.overall.steps / 2
    assert not [own for own, source in taken if source == own]
    # Nor from any other held-out trace: the whole test part is hidden from the index.
    assert not {source for _, source in taken} & {r.trace_id for r in report.steps}
    assert set(report.per_tool) >= {"get_user", "get_order"}


def test_closed_loop_and_sampling_are_named_and_deterministic(
    built_model: Path, synthetic_corpus: Path
) -> None:
    """(That the mode reaches the model: test_eval_knobs, where the prompts show the history.)"""
    from wmh.ingest.reader import read_traces
    from wmh.store.splits import part_trace_ids

    root = built_model.parent.parent
    options = EvalOptions(sample_turns="2", seed=3, mode=LoopMode.CLOSED, track=False)
    first = evaluate(name="records", root=root, options=options)
    again = evaluate(name="records", root=root, options=options)
    assert first.mode is LoopMode.CLOSED and first.sample_turns == "2"
    held = part_trace_ids(built_model, "test")
    lengths = [len(t.steps) for t in read_traces([synthetic_corpus]).traces if t.trace_id in held]
    assert first.traces == len(held) and first.overall.steps == sum(min(2, n) for n in lengths)
    assert {s.trace_id for s in first.steps} == held
    # Two turns of each trace, drawn by the seed: another seed draws other turns.
    other = evaluate(name="records", root=root, options=dataclasses.replace(options, seed=4))
    assert [(s.trace_id, s.index) for s in other.steps] != [
        (s.trace_id, s.index) for s in first.steps
    ]
    assert [s.model_dump() for s in first.steps] == [s.model_dump() for s in again.steps]
    last = evaluate(
        name="records", root=root, options=EvalOptions(sample_turns="last", limit=3, track=False)
    )
    assert last.traces == 3 and last.overall.steps == 3


def test_results_json_and_mlflow_run_hold_the_same_figures(
    synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-do-not-log")
    report = evaluate([synthetic_corpus], root=tmp_path, options=EvalOptions(limit=5))
    path = save_report(report, tmp_path / "out.json")
    run_id = track_report(report, path)
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    saved = json.loads(path.read_text())
    assert run.data.metrics["fidelity"] == pytest.approx(saved["overall"]["score"])
    assert run.data.metrics["baseline.nn_copy"] == pytest.approx(
        saved["overall"]["baselines"]["nn_copy"]
    )
    for tool, figures in saved["per_tool"].items():
        assert run.data.metrics[f"tool.{tool}.fidelity"] == pytest.approx(figures["score"])
    assert run.data.params["embedder.kind"] == "hashing"
    assert "sk-canary" not in json.dumps(run.data.params) + path.read_text()


def test_suite_runs_and_results_list_newest_first_with_deltas(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    examples = tmp_path / "examples" / "records"
    (examples / "evals").mkdir(parents=True)
    (examples / "traces.otel.jsonl").write_bytes(synthetic_corpus.read_bytes())
    (examples / "evals" / "default.toml").write_text(
        'title = "records"\nfiles = ["traces.otel.jsonl"]\ntrain_split = 0.7\n'
        'sample_turns = "first"\nseed = 1\njudge = "structural"\nprovider = "replay"\n'
    )
    suite = resolve_suite("records", tmp_path / "examples")
    assert suite.trace_files() == [examples / "traces.otel.jsonl"]
    for created in ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"):
        report = evaluate(
            suite.trace_files(),
            root=tmp_path,
            overrides=suite.overrides(),
            options=EvalOptions(sample_turns="first", suite="records/default", track=False),
        )
        report.created_at = created
        save_report(report, tmp_path / "evals" / "records" / "default" / f"{created[:10]}.json")
    runs, unreadable = list_results(tmp_path, "records")
    assert [r.created_at[:10] for r in runs] == ["2026-01-02", "2026-01-01"]
    assert runs[0].delta == 0.0 and runs[1].delta is None and unreadable == []
    assert runs[0].steps == report.traces  # one (the first) turn per held-out trace
    # A damaged result is named, not skipped unsaid; a folder named like one is no traceback.
    saved = tmp_path / "evals" / "records" / "default" / "2026-01-02.json"
    saved.write_bytes(saved.read_bytes()[:50])
    (tmp_path / "evals" / "records" / "x.json").mkdir()
    (tmp_path / "evals" / "records" / "other.json").write_text('{"model": "m"}')
    (tmp_path / "evals" / "elsewhere").mkdir()
    (tmp_path / "evals" / "elsewhere" / "cut.json").write_text("{")  # not the suite asked for
    (tmp_path / "evals" / "records" / "sim2real-20260101T000000Z.json").write_text("{}")
    runs, unreadable = list_results(tmp_path, "records")
    assert [r.created_at[:10] for r in runs] == ["2026-01-01"]
    assert sorted(unreadable) == sorted(
        [
            f"{saved}: not JSON (cut short?)",
            f"{tmp_path / 'evals' / 'records' / 'x.json'}: Is a directory",
            f"{tmp_path / 'evals' / 'records' / 'other.json'}: not an eval result (a field is "
            "missing or of another type)",
        ]
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "eval", "results", "--root", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert done.returncode == 0 and f"skipped: {saved}: not JSON (cut short?)" in done.stdout
    assert "elsewhere" in done.stdout and "sim2real-" not in done.stdout  # no suite asked


def test_bad_suite_fields_are_reported(tmp_path: Path) -> None:
    from wmh.errors import ConfigError

    evals = tmp_path / "examples" / "x" / "evals"
    evals.mkdir(parents=True)
    (tmp_path / "examples" / "x" / "run.sh").write_text("")
    (evals / "default.toml").write_text('title = "x"\nfiles = []\n')
    with pytest.raises(ConfigError, match="default.toml: files: .*; 1 problem in all"):
        resolve_suite("x", tmp_path / "examples")


def test_a_suite_counts_its_sampled_turns_with_a_toml_number(tmp_path: Path) -> None:
    from wmh.errors import ConfigError
    from wmh.eval.suites import load_suite

    suite = tmp_path / "p.toml"
    suite.write_text('title = "t"\nfiles = ["t.jsonl"]\nsample_turns = 3\n')
    assert load_suite(suite, "x").sample_turns == "3"  # was "Input should be a valid string"
    suite.write_text('title = "t"\nfiles = ["t.jsonl"]\nsample_turns = true\n')
    with pytest.raises(ConfigError, match="p.toml: sample_turns: .*; 1 problem in all"):
        load_suite(suite, "x")


def test_eval_cli_prints_tables_writes_results_and_tracks(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    env = {**os.environ, "COLUMNS": "200", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wmh",
            "eval",
            str(synthetic_corpus),
            "--root",
            str(tmp_path),
            "--sample-turns",
            "first",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "nn_copy" in done.stdout and "95% CI" in done.stdout
    (out,) = (tmp_path / "evals" / "records").glob("*.json")
    saved = json.loads(out.read_text())
    assert saved["sample_turns"] == "first"
    # The run named is in the store the environment names, holding the report's figures.
    import mlflow

    run_id = done.stdout.split("MLflow run:", 1)[1].split()[0]
    run = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).get_run(run_id)
    assert run.data.metrics["fidelity"] == pytest.approx(saved["overall"]["score"])
    assert run.data.metrics["baseline.nn_copy"] == pytest.approx(
        saved["overall"]["baselines"]["nn_copy"]
    )
    listed = subprocess.run(
        [sys.executable, "-m", "wmh", "eval", "results", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0 and "records" in listed.stdout


def test_a_built_model_can_be_judged_by_the_rubric_judge_over_http(
    built_model: Path, fake_llm
) -> None:
    from tests.fake_llm import Reply

    fake_llm.default = Reply('{"score": 0.5, "feedback": "half right"}')
    report = evaluate(
        name="records",
        root=built_model.parent.parent,
        overrides=[
            "judge=rubric",
            "judge.model=openai/grader",
            "provider=openai_compatible",
            f"provider.api_base={fake_llm.api_base}",
            "provider.num_retries=0",
        ],
        options=EvalOptions(sample_turns="first", limit=2, track=False),
    )
    assert report.judge == "rubric"
    assert report.overall.score == 0.5 and report.overall.steps == 2
    # the model and its three baselines are graded for each of the two steps
    assert len(fake_llm.requests) == 8
    assert {r["model"] for r in fake_llm.requests} == {"grader"}
    # The judge chosen as `--judge rubric` does, apart from the overrides: the same.
    report = evaluate(
        name="records",
        root=built_model.parent.parent,
        overrides=[
            "judge.model=openai/grader",
            "provider=openai_compatible",
            f"provider.api_base={fake_llm.api_base}",
            "provider.num_retries=0",
        ],
        options=EvalOptions(judge="rubric", sample_turns="first", limit=2, track=False),
    )
    assert report.judge == "rubric" and report.overall.score == 0.5
    assert len(fake_llm.requests) == 16


def test_rubric_judgements_without_a_grade_are_counted_and_the_judge_is_metered(
    built_model: Path, fake_llm
) -> None:
    from tests.fake_llm import Reply
    from wmh.errors import ProviderError

    overrides = [
        "judge=rubric",
        "judge.model=openai/grader",
        "provider=openai_compatible",
        f"provider.api_base={fake_llm.api_base}",
        "provider.num_retries=0",
    ]
    options = EvalOptions(sample_turns="first", limit=2, track=False)
    # Three of the eight judgements (two steps: the model and three baselines) get no grade.
    fake_llm.script = [Reply("looks fine to me"), Reply(status=500), Reply("no idea")]
    fake_llm.default = Reply('{"score": 1.0, "feedback": "same"}', prompt_tokens=20)
    report = evaluate(name="records", root=built_model.parent.parent, overrides=overrides,
                      options=options)  # fmt: skip
    assert (report.judgements, report.ungraded) == (8, 3)
    # Every call the judge made is metered, the failed one as a failure.
    assert report.judge_usage["calls"] == 7 and report.judge_usage["failures"] == 1
    assert report.judge_usage["prompt_tokens"] == 2 * 11 + 5 * 20
    ungraded = [s for s in report.steps if s.feedback.startswith("rubric judge gave no grade")]
    assert len(ungraded) == 1 and ungraded[0].score == 0.0

    # A judge that grades nothing gives no table of zeros.
    fake_llm.script = []
    fake_llm.default = Reply("I cannot say")
    with pytest.raises(ProviderError, match="graded none of its 8 judgements.*no score"):
        evaluate(name="records", root=built_model.parent.parent, overrides=overrides,
                 options=options)  # fmt: skip


def test_an_eval_override_of_the_endpoint_is_the_endpoint_called(
    tmp_path: Path, synthetic_corpus: Path, fake_llm
) -> None:
    from tests.conftest import make_settings
    from tests.engine.test_llm import llm_overrides
    from tests.fake_llm import FakeLLMServer, echo_environment
    from wmh.pipeline.build import build_world_model

    fake_llm.default = echo_environment
    build_world_model(make_settings(tmp_path, "llm", [synthetic_corpus], *llm_overrides(fake_llm)))
    built_calls = len(fake_llm.requests)
    with FakeLLMServer() as other:
        other.default = echo_environment
        report = evaluate(
            name="llm",
            root=tmp_path,
            overrides=[f"provider.api_base={other.api_base}", "predictor.cache=false"],
            options=EvalOptions(limit=2, track=False),
        )
    llm_steps = report.sources.get("llm", 0)
    assert llm_steps > 0 and len(other.requests) == llm_steps  # the new endpoint answered
    assert len(fake_llm.requests) == built_calls  # and the one it was built with was not asked


def test_a_delta_is_taken_only_against_a_run_scored_the_same_way(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """Deltas compared a run with the one before it of the same key whatever its judge, turns,
    traces or files (an exact run against a numeric one, a --limit 3 run against a full one)."""
    report = evaluate(
        [synthetic_corpus], root=tmp_path, options=EvalOptions(sample_turns="first", track=False)
    )
    folder = tmp_path / "evals" / report.model

    def saved(day: int, score: float, **changes: object) -> None:
        run = report.model_copy(deep=True, update=changes)
        run.created_at = f"2026-01-0{day}T00:00:00+00:00"
        run.overall.score = score
        save_report(run, folder / f"{day}.json")

    saved(1, 0.5)
    saved(2, 0.9, judge="exact")  # another judge: nothing to compare with
    saved(3, 0.6)  # against day 1, not day 2
    saved(4, 0.7, traces=report.traces - 1)  # fewer traces (--limit): nothing
    saved(5, 0.8, judge="exact")  # against day 2
    saved(6, 0.4, sample_turns="last")  # other turns: nothing
    runs, _ = list_results(tmp_path)
    deltas = {r.created_at[9]: r.delta for r in runs}
    assert deltas == {"1": None, "2": None, "3": 0.1, "4": None, "5": -0.1, "6": None}


class _Guessing:
    """A predictor that answers `guess N` at the Nth step of a session and notes the history
    each prediction was made from."""

    name = "guessing"

    def __init__(self) -> None:
        self.histories: list[list[str]] = []

    def predict(self, context: object) -> object:
        from wmh.core.types import Observation

        history = [turn.observation.content for turn in context.session.history]  # type: ignore[attr-defined]
        self.histories.append(history)
        return Observation(content=f"guess {len(history)}")


@pytest.mark.parametrize("turns", ["all", "last"])
def test_closed_loop_steps_on_the_models_own_answers_and_open_loop_on_the_record(
    synthetic_corpus: Path, turns: str
) -> None:
    """Closed loop: each prediction is made from a history of the model's own answers, also
    for the turns not scored (`last`); open loop, from the recorded answers."""
    from wmh.ingest.reader import read_traces
    from wmh.scoring.judges import StructuralJudge
    from wmh.scoring.runner import evaluate_traces

    traces = read_traces([synthetic_corpus]).traces[:4]
    for mode in (LoopMode.CLOSED, LoopMode.OPEN):
        guessing = _Guessing()
        evaluate_traces(
            "m",
            guessing,
            traces,
            StructuralJudge(),
            mode=mode,
            sample_turns=turns,  # type: ignore[arg-type]
        )
        if mode is LoopMode.CLOSED:
            expected = [
                [f"guess {i}" for i in range(n)] for t in traces for n in range(len(t.steps))
            ]
        else:
            expected = [
                [s.observation.content for s in t.steps[:n]]
                for t in traces
                for n in range(len(t.steps))
                if turns == "all" or n == len(t.steps) - 1
            ]
        assert guessing.histories == expected


def test_a_suites_settings_become_the_overrides_it_is_built_with(tmp_path: Path) -> None:
    """The split, judge, provider, seed and embedding size a suite names are what its model is
    built with: a seed left out of the overrides built every suite with seed 0."""
    from wmh.eval.suites import load_suite

    suite = tmp_path / "p.toml"
    suite.write_text(
        'title = "t"\nfiles = ["t.jsonl"]\ntrain_split = 0.7\nseed = 7\njudge = "exact"\n'
        "embed_dim = 64\n"
    )
    assert load_suite(suite, "x").overrides() == [
        "split.train=0.7",
        "split.valid=0",
        "split.test=0.3",
        "judge=exact",
        "provider=replay",
        "seed=7",
        "embedder.dim=64",
    ]


def test_the_planned_steps_are_the_steps_a_limited_evaluation_scores(built_model: Path) -> None:
    """The progress bar's total: with `limit`, the steps of the first `limit` traces (a plan
    over every held-out trace would leave the bar short of its end)."""
    planned: list[int] = []
    scored: list[int] = []
    report = evaluate(
        name="records",
        root=built_model.parent.parent,
        options=EvalOptions(limit=3, track=False),
        on_plan=planned.append,
        on_progress=scored.append,
    )
    assert report.traces == 3
    assert planned == [report.overall.steps] == [sum(scored)]
    everything = evaluate(
        name="records", root=built_model.parent.parent, options=EvalOptions(track=False),
        on_plan=planned.append,
    )  # fmt: skip
    assert everything.traces > 3 and planned[1] == everything.overall.steps > planned[0]

"""`wmh eval` as a new user reaches it: a suite's judge overridden on the command line, a model
with nothing held out, a folder of trace files, and a suite named by any path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_settings, wmh_build
from tests.eval.test_eval_knobs import run_eval, wmh
from tests.fake_llm import FakeLLM, echo_environment
from wmh.errors import ConfigError
from wmh.eval.service import eval_overrides
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model
from wmh.store.settings import model_settings

PASSWORD = "hunter2-s3cret-pw"


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An example task folder: a corpus and a suite that judges structurally."""
    folder = tmp_path_factory.mktemp("examples") / "records"
    (folder / "evals").mkdir(parents=True)
    write_corpus(folder / "traces.otel.jsonl", traces=24, seed=11)
    (folder / "evals" / "default.toml").write_text(
        'title = "records"\nfiles = ["traces.otel.jsonl"]\ntrain_split = 0.7\n'
        'sample_turns = "first"\njudge = "structural"\n'
    )
    return folder


def test_a_suites_judge_gives_way_to_an_override(task: Path, tmp_path: Path) -> None:
    """`eval run`'s help says `-o` applies after the suite's own settings; the suite's judge
    won over `-o judge=exact` (its header, results and scores were structural)."""
    suite = str(task / "evals" / "default.toml")
    root = str(tmp_path / "store")
    own = run_eval(tmp_path / "own.json", "run", suite, "--root", root)
    exact = run_eval(tmp_path / "exact.json", "run", suite, "--root", root, "-o", "judge=exact")
    assert own["judge"] == "structural" and exact["judge"] == "exact"
    assert exact["config"]["judge"]["name"] == "exact"
    # The same steps, judged otherwise: exact scores are whole, structural ones are not all.
    steps = [(s["trace_id"], s["index"]) for s in own["steps"]]
    assert steps == [(s["trace_id"], s["index"]) for s in exact["steps"]]
    assert {s["score"] for s in exact["steps"]} <= {0.0, 1.0}
    assert {s["score"] for s in own["steps"]} - {0.0, 1.0}


def test_a_suite_finds_its_files_however_its_path_is_typed(
    task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files are relative to its task's folder (the suite folder's parent); a suite named
    by a bare file name from inside its folder looked for them in the current folder, and was
    filed under an empty task."""
    root = str(tmp_path / "store")
    absolute = run_eval(
        tmp_path / "a.json", "run", str(task / "evals" / "default.toml"), "--root", root
    )
    monkeypatch.chdir(task / "evals")
    bare = run_eval(tmp_path / "b.json", "run", "default.toml", "--root", root)
    assert absolute["suite"] == bare["suite"] == "records/default"
    assert absolute["overall"] == bare["overall"] and absolute["traces"] > 0
    # A suite linked into another task is that task's: its files are the other task's.
    other = tmp_path / "examples" / "other"
    (other / "evals").mkdir(parents=True)
    write_corpus(other / "traces.otel.jsonl", traces=12, seed=4)
    (other / "evals" / "linked.toml").symlink_to(task / "evals" / "default.toml")
    linked = run_eval(
        tmp_path / "c.json", "run", str(other / "evals" / "linked.toml"), "--root", root
    )
    assert linked["suite"] == "other/linked"
    assert set(linked["per_file"]) == {str(other / "traces.otel.jsonl")}


def test_a_model_with_nothing_held_out_is_refused_not_scored_zero(tmp_path: Path) -> None:
    corpus = tmp_path / "one.jsonl"
    write_corpus(corpus, traces=1, seed=3)
    root = tmp_path / "store"
    wmh_build(root, "one", "--file", str(corpus))
    out = tmp_path / "r.json"
    done = wmh("eval", "--name", "one", "--root", str(root), "--no-mlflow", "--out", str(out))
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())
    assert "no held-out traces: model 'one' holds every trace it was built from" in said
    assert not out.exists() and not (root / "evals").exists()


def test_a_folder_of_trace_files_is_evaluated_as_build_reads_it(task: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(task / "traces.otel.jsonl", folder / "a.jsonl")
    (folder / "notes.txt").write_text("not traces")
    by_folder = run_eval(tmp_path / "f.json", "files", str(folder), "--root", str(tmp_path / "s"))
    by_file = run_eval(
        tmp_path / "g.json", "files", str(folder / "a.jsonl"), "--root", str(tmp_path / "s")
    )
    assert by_folder["overall"] == by_file["overall"] and by_folder["traces"] > 0
    # A built model on a folder: every trace of it it did not train on.
    wmh_build(tmp_path / "m", "rec", "--file", str(folder / "a.jsonl"))
    on_folder = run_eval(
        tmp_path / "h.json", "--name", "rec", "--root", str(tmp_path / "m"), str(folder)
    )
    assert on_folder["traces"] == by_file["traces"]
    empty = tmp_path / "empty"
    empty.mkdir()
    done = wmh("eval", "files", "--name", "rec", "--root", str(tmp_path / "m"), str(empty))
    assert done.returncode == 1
    assert f"directory {empty} holds no trace files" in " ".join(done.stderr.split())


def test_an_out_path_nothing_may_be_written_to_is_refused_before_evaluating(
    built_model: Path,
) -> None:
    done = wmh(
        "eval", "--name", "records", "--root", str(built_model.parent.parent), "--no-mlflow",
        "--out", "/proc/wmh-eval.json",
    )  # fmt: skip
    assert done.returncode == 1
    assert "--out /proc/wmh-eval.json: cannot write in /proc" in " ".join(done.stderr.split())
    assert "evaluating" not in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "top_k", [["eval", "--top-k", "1"], ["eval", "-o", "retrieval.top_k=3"],
              ["play", "-o", "retrieval.top_k=2"]],
)  # fmt: skip
def test_a_replay_model_refuses_a_top_k_it_would_not_use(
    built_model: Path, top_k: list[str]
) -> None:
    """A replay model's answers do not depend on top_k: `--top-k 1` was taken, printed and
    saved with the results, and every top_k scored the same."""
    command, *given = top_k
    untracked = ["--no-mlflow"] if command == "eval" else []
    done = wmh(command, "--name", "records", "--root", str(built_model.parents[1]), *untracked,
               *given)  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    value = given[-1].split("=")[-1]
    assert done.returncode == 1
    assert f"retrieval.top_k={value}: 'records' is a replay model, whose answers do not" in said


def test_messages_say_what_is_wrong_with_what_was_given(built_model: Path, tmp_path: Path) -> None:
    root = str(built_model.parent.parent)
    done = wmh("eval", "--name", "records", "--root", root, "--no-mlflow", "--top-k", "-1")
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "retrieval.top_k is how many recorded examples" in said
    assert "got -1" in said and "zero-shot" not in said
    done = wmh("play", "--name", "records", "--root", root, "-o", "provider.api_base=http://x")
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and "provider settings would change nothing here" in said
    assert "rubric" not in said
    # An eval judges, but with no LLM judge the endpoint reaches nothing either.
    done = wmh(
        "eval", "--name", "records", "--root", root, "--no-mlflow", "--judge", "exact",
        "-o", "provider.api_base=http://127.0.0.1:9/v1",
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert (
        done.returncode == 1
        and (
            "is a replay model, which calls no provider; provider settings reach only an LLM "
            "judge here (judge=rubric)"
        )
        in said
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "scaling"}')
    done = wmh("study", "plot", str(bad), "--out", str(tmp_path / "p.png"))
    said = done.stderr.strip()
    assert done.returncode == 1 and len(said.splitlines()) == 1, said
    assert f"{bad}: not a study's results.json (name: Field required;" in said
    shutil.copytree(built_model, tmp_path / "s" / "models" / "records")
    done = wmh("eval", "--name", "records", "--root", str(tmp_path / "s"), "--no-mlflow")
    assert done.returncode == 0, done.stderr
    done = wmh("eval", "results", "nosuch", "--root", str(tmp_path / "s"))
    said = " ".join(done.stdout.split())
    assert "no saved eval runs of 'nosuch' under" in said and "(saved: records)" in said


def test_tables_read_whole_at_80_columns(built_model: Path, tmp_path: Path) -> None:
    """Piped output is 80 columns wide: tool names were cut to `update_res…`, dates broke as
    `2026-11-3` over `0 18:19` and scores as `0.788/0.` over `742`."""
    import os
    import re
    import subprocess
    import sys

    from wmh.store.card import read_card

    def narrow(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "wmh", *args], capture_output=True, text=True, timeout=300,
            env={**os.environ, "COLUMNS": "80"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "…" not in done.stdout
        return done.stdout

    root = str(built_model.parent.parent)
    out = tmp_path / "r.json"
    shown = narrow("eval", "--name", "records", "--root", root, "--no-mlflow", "--out", str(out))
    for tool in json.loads(out.read_text())["per_tool"]:
        assert re.search(rf"^{re.escape(tool)} ", shown, re.MULTILINE), tool
    assert shown.count("baselines") == 3 and "most_frequent" in shown  # no column dropped
    card = read_card(built_model)
    listed = narrow("list", "--root", root)
    fit = card.replay_fit
    assert f"{fit.score:.3f}/{fit.nearest_copy:.3f}" in listed
    assert card.created_at[:10] in listed


def test_a_narrow_table_keeps_every_column_and_cuts_long_names_before_numbers() -> None:
    """At 80 columns a table was cut at the right edge when its columns' widths added up to
    more (the built date and run of `wmh list` were gone), and a 29-character tool name broke
    at 24."""
    from rich.console import Console

    from wmh.cli.common import narrow_table

    def shown(headers: list[str], row: list[str]) -> list[str]:
        console = Console(width=80, record=True)
        console.print(narrow_table(headers, [row], width=80))
        return console.export_text().splitlines()

    lines = shown(
        ["tool", "steps", "fidelity ± std\n95% CI", "flag", "baselines"],
        ["update_reservation_passengers", "5", "0.603 ± 0.544\n[0.503, 1.000]", "0.600",
         "action_copy 0.603\nmost_frequent 0.402\nnn_copy 0.603"],
    )  # fmt: skip
    text = "\n".join(lines)
    assert max(map(len, lines)) <= 80
    for whole in ("update_reservation_passengers", "[0.503, 1.000]", "most_frequent 0.402"):
        assert whole in text, whole
    lines = shown(
        ["name", "provider", "steps", "held-out", "fit/copy", "GEPA", "built", "run"],
        ["support-desk-minilm-v2", "openai_compatible", "1036", "0.781", "0.788/0.742",
         "12r/3f", "2026-11-29 00:27", "ef86fa8f"],
    )  # fmt: skip
    header, text = lines[0], "\n".join(lines)
    assert header.split() == ["name", "provider", "steps", "held-out", "fit/copy", "GEPA",
                              "built", "run"]  # fmt: skip
    for whole in ("0.788/0.742", "12r/3f", "2026-11-29", "ef86fa8f", "1036", "0.781"):
        assert whole in text, whole


def test_endpoint_credentials_are_refused_by_eval_and_play_as_by_a_build(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """`-o provider.api_base=` of an LLM model with a password in it: the eval wrote it to its
    results JSON, its MLflow params and artifact, and `wmh play` showed it in its banner."""
    fake_llm.default = echo_environment
    root = tmp_path / "store"
    llm = [
        "provider=openai_compatible", "provider.model=openai/env-model",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
    ]  # fmt: skip
    built = build_world_model(make_settings(root, "m", [synthetic_corpus], *llm))
    api_base = f"http://alice:{PASSWORD}@127.0.0.1:{fake_llm.port}/v1"
    done = wmh(
        "eval", "files", "--name", "m", "--root", str(root), "--limit", "1",
        "-o", f"provider.api_base={api_base}",
    )  # fmt: skip
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1
    assert f"provider.api_base carries credentials (http://***@127.0.0.1:{fake_llm.port}/v1)" in out
    assert PASSWORD not in out
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaked == []  # no results JSON, mlflow.db or MLflow artifact holds it
    with pytest.raises(ConfigError, match="provider.api_base carries credentials") as caught:
        eval_overrides(
            model_settings(built.path), "m", [f"provider.api_base={api_base}"], judged=False
        )  # as `wmh play` asks
    assert PASSWORD not in str(caught.value)


def test_an_eval_whose_provider_calls_failed_is_refused_not_saved(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """Every call to a closed port failed, and the eval still printed a score, exited 0 and
    saved it as a result; past `provider.max_error_share` it is an error, and nothing is saved.
    Within the share (a reachable endpoint), the same eval is saved."""
    fake_llm.default = echo_environment
    root = tmp_path / "store"
    llm = [
        "provider=openai_compatible", "provider.model=openai/env-model",
        f"provider.api_base={fake_llm.api_base}", "provider.num_retries=0",
        "predictor.route=llm",
    ]  # fmt: skip
    build_world_model(make_settings(root, "m", [synthetic_corpus], *llm))
    common = ["eval", "--name", "m", "--root", str(root), "--no-mlflow", "--limit", "2",
              "-o", "predictor.cache=false"]  # fmt: skip
    out = tmp_path / "r.json"
    done = wmh(*common, "-o", "provider.api_base=http://127.0.0.1:1/v1", "--out", str(out))
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said
    assert "evaluated steps failed at the provider, more than provider.max_error_share=0.1" in said
    assert not out.exists() and not (root / "evals").exists()
    done = wmh(*common, "--out", str(out))
    assert done.returncode == 0 and json.loads(out.read_text())["overall"]["steps"] > 0

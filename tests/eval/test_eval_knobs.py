"""`wmh eval`'s knobs through the CLI: files a model never saw, sampled turns, the `match` judge,
spread, another prompt, zero-shot, and suites with the leading harness's keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.fake_llm import FakeLLM, echo_environment
from wmh.ingest.synthetic import write_corpus
from wmh.scoring.runner import spread
from wmh.store.splits import part_trace_ids

ENV = {**os.environ, "COLUMNS": "200"}
EXAMPLES_HEADER = "## Recorded examples of this environment"


def wmh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wmh", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


def run_eval(out: Path, *args: str) -> dict:
    done = wmh("eval", *args, "--no-mlflow", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def llm(fake: FakeLLM) -> list[str]:
    return [
        "-o", "provider=openai_compatible", "-o", "provider.model=openai/env-model",
        "-o", f"provider.api_base={fake.api_base}", "-o", "provider.num_retries=0",
        "-o", "provider.timeout=5",
    ]  # fmt: skip


def test_a_built_model_on_files_scores_every_trace_it_did_not_train_on(
    built_model: Path, synthetic_corpus: Path, tmp_path: Path
) -> None:
    root = built_model.parent.parent
    fresh = write_corpus(tmp_path / "fresh.jsonl", traces=12, seed=99)
    trained = part_trace_ids(built_model, "train") | part_trace_ids(built_model, "valid")
    held = part_trace_ids(built_model, "test")
    assert len(trained) + len(held) == 200 and held
    out = tmp_path / "r.json"
    done = wmh(
        "eval", "--name", "records", "--root", str(root), str(fresh), str(synthetic_corpus),
        "--sample-turns", "first", "--no-mlflow", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    # All 12 new traces, the model's own test part, none of the 200 - len(held) it trained on.
    assert report["traces"] == 12 + len(held)
    assert report["unseen_traces"] == 12
    assert report["seen_traces_skipped"] == len(trained)
    assert {s["trace_id"] for s in report["steps"]} & trained == set()
    assert f"{len(trained)} it trained on left out" in done.stdout
    # With a limit, the counts are of the traces scored (it printed "-2 from its test part").
    fresh_ids = {s["trace_id"] for s in report["steps"]} - held
    first = sorted(fresh_ids | held)[:3]
    limited = run_eval(
        tmp_path / "l.json", "--name", "records", "--root", str(root), str(fresh),
        str(synthetic_corpus), "--sample-turns", "first", "--limit", "3",
    )  # fmt: skip
    assert limited["traces"] == 3
    assert limited["unseen_traces"] == sum(t in fresh_ids for t in first)
    # What reading the files left out is said, as a build says it (a copy of a file under
    # another name was dropped without a word).
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(fresh.read_bytes())
    spans = sum(1 for line in fresh.read_text().splitlines() if line.strip())
    out = tmp_path / "d.json"
    twice = wmh(
        "eval", "--name", "records", "--root", str(root), str(fresh), str(copy),
        "--sample-turns", "first", "--no-mlflow", "--out", str(out),
    )  # fmt: skip
    assert twice.returncode == 0, twice.stderr
    said = f"{spans} duplicate spans (a trace and span id read before) skipped"
    assert said in " ".join(twice.stdout.split())
    assert said in json.loads(out.read_text())["ingest"]
    # Only files it trained on: nothing to score, said so.
    only_seen = tmp_path / "seen.jsonl"
    lines = [ln for ln in synthetic_corpus.read_text().splitlines() if ln.strip()]
    only_seen.write_text("\n".join(ln for ln in lines if json.loads(ln)["traceId"] in trained))
    refused = wmh("eval", "--name", "records", "--root", str(root), str(only_seen), "--no-mlflow")
    assert refused.returncode == 1
    assert "are in the train or valid part of model 'records'" in refused.stderr


def test_sampled_turns_match_judge_and_spread(built_model: Path, tmp_path: Path) -> None:
    root = str(built_model.parent.parent)
    first = run_eval(
        tmp_path / "a.json", "--name", "records", "--root", root,
        "--sample-turns", "sampled", "--seed", "1", "--judge", "match",
    )  # fmt: skip
    again = run_eval(
        tmp_path / "b.json", "--name", "records", "--root", root,
        "--sample-turns", "sampled", "--seed", "2", "--judge", "match",
    )  # fmt: skip
    assert first["judge"] == "exact" and first["sample_turns"] == "sampled"
    assert first["overall"]["steps"] == first["traces"] > 5  # one turn per trace
    picked = [(s["trace_id"], s["index"]) for s in first["steps"]]
    assert picked != [(s["trace_id"], s["index"]) for s in again["steps"]]  # the seed chooses
    full = run_eval(tmp_path / "c.json", "--name", "records", "--root", root)
    # `--limit all` (an MLproject entry point's default: it always passes --limit) is no limit.
    every = run_eval(tmp_path / "d.json", "--name", "records", "--root", root, "--limit", "all")
    assert every["traces"] == full["traces"] > 2 and every["overall"] == full["overall"]
    for figures in [full["overall"], *full["per_tool"].values(), *full["per_file"].values()]:
        assert figures["ci_low"] <= figures["score"] <= figures["ci_high"]
    overall = full["overall"]
    scores = [s["score"] for s in full["steps"]]
    assert overall["std"] == pytest.approx(
        (sum((x - overall["score"]) ** 2 for x in scores) / (len(scores) - 1)) ** 0.5, abs=1e-5
    )
    assert overall["std"] > 0 and overall["ci_low"] < overall["ci_high"]


def test_spread_is_a_trace_bootstrap() -> None:
    assert spread([0.5, 0.5, 0.5], ["a", "b", "c"]) == (0.0, 0.5, 0.5)
    # One trace scores 1, one 0, in steps of 3 and 1: the interval spans both extremes, since a
    # resample can hold only one trace; step-level resampling would never reach 0.
    std, low, high = spread([1.0, 1.0, 1.0, 0.0], ["a", "a", "a", "b"])
    assert std == pytest.approx(0.5)
    assert (low, high) == (0.0, 1.0)


def test_the_interval_is_the_central_95_percent_of_step_weighted_resampled_means() -> None:
    """Traces of unequal length: a resample's mean is over its steps (a long trace weighs more
    than a short one), and the interval cuts 2.5% off each end; checked against a bootstrap
    written out here with the same seeded draws."""
    from wmh.scoring.runner import BOOTSTRAP_SAMPLES

    traces = {"a": [1.0] * 9, "b": [0.0], "c": [0.0, 0.5], "d": [0.25] * 4, "e": [0.9, 0.7]}
    names = list(traces)
    draws = np.random.default_rng(0).integers(0, len(names), size=(BOOTSTRAP_SAMPLES, len(names)))
    means = []
    for row in draws:
        chosen = [score for i in row for score in traces[names[i]]]
        means.append(sum(chosen) / len(chosen))
    ordered = sorted(means)
    scores = [score for name in names for score in traces[name]]
    clusters = [name for name in names for _ in traces[name]]
    std, low, high = spread(scores, clusters)
    assert std == pytest.approx(float(np.std(scores, ddof=1)))
    assert low == pytest.approx(float(np.percentile(ordered, 2.5)))
    assert high == pytest.approx(float(np.percentile(ordered, 97.5)))
    assert low < sum(scores) / len(scores) < high


def test_another_prompt_zero_shot_and_top_k_reach_the_provider(
    built_model: Path, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = echo_environment
    corpus = write_corpus(tmp_path / "c.jsonl", traces=30, seed=6)
    root = str(tmp_path / "store")
    built = wmh(
        "build", "--name", "llm", "--file", str(corpus), "--root", root, "--no-interactive",
        "-o", "track=false", *llm(fake_llm),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    prompt = tmp_path / "env.txt"
    prompt.write_text("CANARY-PROMPT: you play an order database.")
    common = ["--name", "llm", "--root", root, "--sample-turns", "first", "--limit", "3"]
    fake_llm.requests.clear()
    zero = run_eval(tmp_path / "z.json", *common, "--prompt", str(prompt), "--no-rag")
    asked = [json.dumps(r["messages"]) for r in fake_llm.requests]
    assert len(asked) == zero["overall"]["steps"] == zero["traces"] > 0
    assert zero["top_k"] == 0 and zero["prompt"] == str(prompt)
    assert all("CANARY-PROMPT" in a for a in asked)
    assert all(f"{EXAMPLES_HEADER} (real answers to similar actions)\\n(none)" in a for a in asked)
    assert zero["sources"] == {"llm": len(asked)}  # no exact replay from the corpus either
    fake_llm.requests.clear()
    two = run_eval(tmp_path / "t.json", *common, "--top-k", "2", "-o", "predictor.cache=false")
    asked = [json.dumps(r["messages"]) for r in fake_llm.requests]
    assert two["top_k"] == 2 and len(asked) == two["overall"]["steps"] > 0
    assert not any("CANARY-PROMPT" in a for a in asked)
    assert all("(none)" not in a.split(EXAMPLES_HEADER)[1][:80] for a in asked)
    # Exactly two examples in each prompt (the report's echo of the option held 2 where the
    # prompts held five).
    shown = [a.split(EXAMPLES_HEADER)[1].split("## This session so far")[0] for a in asked]
    assert [part.count("Action: ") for part in shown] == [2] * len(asked)
    # The loop mode reaches the model: closed loop, the session so far holds the model's own
    # answers (the fake's echo records), every turn asked for; open loop, the recorded answers,
    # only the turns scored.
    seen = {}
    for mode in ("closed_loop", "open_loop"):
        fake_llm.requests.clear()
        loop = run_eval(
            tmp_path / f"{mode}.json", "--name", "llm", "--root", root, "--sample-turns", "last",
            "--limit", "2", "--mode", mode, "-o", "predictor.cache=false",
            "-o", "predictor.route=llm",
        )  # fmt: skip
        assert loop["mode"] == mode and loop["overall"]["steps"] == 2
        so_far = [json.dumps(r["messages"]).split("## This session so far")[1]
                  for r in fake_llm.requests]  # fmt: skip
        seen[mode] = (len(so_far), sum('{\\"echo\\":' in h for h in so_far))
    closed_asked, closed_echoes = seen["closed_loop"]
    assert closed_asked > 2 and closed_echoes >= closed_asked - 2
    assert seen["open_loop"] == (2, 0)
    # The replay model takes neither a prompt nor zero-shot: a clear error, not a silent run.
    replay = ["--name", "records", "--root", str(built_model.parent.parent), "--limit", "2"]
    refused = wmh("eval", *replay, "--no-rag", "--no-mlflow")
    assert refused.returncode == 1 and "needs an LLM world model" in refused.stderr
    refused = wmh("eval", *replay, "--prompt", str(prompt), "--no-mlflow")
    assert refused.returncode == 1 and "replay model, which uses no prompt" in refused.stderr


def test_a_suite_with_prompt_top_k_no_rag_and_embed_dim_runs(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = echo_environment
    task = tmp_path / "examples" / "records"
    (task / "evals" / "prompts").mkdir(parents=True)
    write_corpus(task / "traces.otel.jsonl", traces=30, seed=5)
    (task / "evals" / "prompts" / "env.txt").write_text("SUITE-PROMPT: an order database.")
    suite = task / "evals" / "zero.toml"
    suite.write_text(
        'title = "zero-shot"\nfiles = ["traces.otel.jsonl"]\ntrain_split = 0.7\n'
        'sample_turns = "first"\nprovider = "openai_compatible"\njudge = "match"\n'
        'prompt = "prompts/env.txt"\ntop_k = 3\nno_rag = true\nembed_dim = 256\n'
    )
    out = tmp_path / "suite.json"
    done = wmh(
        "eval", "run", str(suite), "--root", str(tmp_path / "store"), "--no-mlflow",
        "--out", str(out), *llm(fake_llm)[2:],  # the suite names the provider group
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["config"]["embedder"]["dim"] == 256
    assert report["top_k"] == 0  # no_rag wins over top_k
    assert report["prompt"] == str(task / "evals" / "prompts" / "env.txt")
    assert report["judge"] == "exact" and report["overall"]["steps"] == report["traces"] > 0
    asked = [json.dumps(r["messages"]) for r in fake_llm.requests]
    # The evaluation's calls, one a step, come after the build's (its held-out check).
    assert report["sources"] == {"llm": report["overall"]["steps"]}
    asked = asked[-report["overall"]["steps"] :]
    assert all("SUITE-PROMPT" in a for a in asked)
    # no_rag: no example in any prompt. (That embed_dim becomes the build's embedder.dim:
    # test_eval.py's test_a_suites_settings_become_the_overrides_it_is_built_with.)
    assert all(f"{EXAMPLES_HEADER} (real answers to similar actions)\\n(none)" in a for a in asked)


def test_a_suites_missing_prompt_is_named_as_the_suite_names_it(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    """It was "--prompt PATH: cannot read the prompt", a flag the user never passed."""
    fake_llm.default = echo_environment
    task = tmp_path / "examples" / "records"
    (task / "evals").mkdir(parents=True)
    write_corpus(task / "traces.otel.jsonl", traces=12, seed=5)
    suite = task / "evals" / "lost.toml"
    suite.write_text(
        'title = "lost"\nfiles = ["traces.otel.jsonl"]\nprovider = "openai_compatible"\n'
        'prompt = "nope.txt"\n'
    )
    done = wmh(
        "eval", "run", str(suite), "--root", str(tmp_path / "store"), "--no-mlflow",
        *llm(fake_llm)[2:],
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 1
    assert f"suite records/lost: prompt = {task / 'evals' / 'nope.txt'}: cannot read" in said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--limit", "-1"],
            "limit must be at least 1 (leave it unset, or all, for every held-out trace), got -1",
        ),
        (["--limit", "0"], "limit must be at least 1"),
        (["--concurrency", "0"], "concurrency must be at least 1, got 0"),
        (
            ["--top-k", str(10**20)],
            f"top_k: {10**20} is out of range (a 64-bit whole number: at most {2**63 - 1})",
        ),
        (["--seed", str(2**63)], f"seed: {2**63} is out of range"),
        (["-o", f"retrieval.top_k={10**20}"], f"retrieval.top_k: {10**20} is out of range"),
        (["--out", "{tmp}"], "--out {tmp} is a directory: give the results file's path"),
        (
            ["--out", "{tmp}/file.txt/r.json"],
            "--out {tmp}/file.txt/r.json: {tmp}/file.txt is a file",
        ),
    ],
    ids=[
        "negative-limit",
        "zero-limit",
        "no-concurrency",
        "huge-top-k",
        "huge-seed",
        "huge-top-k-override",
        "out-dir",
        "out-under-file",
    ],  # fmt: skip
)
def test_counts_and_paths_that_cannot_work_are_refused_before_evaluating(
    built_model: Path, tmp_path: Path, args: list[str], said: str
) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    root = built_model.parent.parent
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = wmh("eval", "files", "--name", "records", "--root", str(root), "--no-mlflow", *filled)
    assert done.returncode == 1
    text = " ".join((done.stdout + done.stderr).split())
    assert said.replace("{tmp}", str(tmp_path)) in text and "Traceback" not in text
    assert "evaluating" not in text and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]

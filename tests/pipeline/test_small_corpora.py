"""A corpus of a few traces builds and plays; GEPA runs without a valid split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM
from tests.optimize.test_gepa import gepa_settings, scripted
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model

WMH = str(Path(sys.executable).parent / "wmh")


def test_a_one_trace_file_builds_without_a_held_out_score_and_plays(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "one.jsonl", traces=1, steps_per_trace=6, seed=3)
    built = subprocess.run(
        [WMH, "build", "--name", "one", "--file", str(corpus), "--root", str(tmp_path),
         "--no-interactive", "-o", "track=false"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "240"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "none: 1 traces are too few to hold any out; all are indexed" in built.stdout
    card = (tmp_path / "models" / "one" / "model.json").read_text()
    assert '"heldout_score": null' in card
    result = build_world_model(make_settings(tmp_path, "one-again", [corpus]))
    steps = result.card.ingest.steps
    assert steps > 0 and result.card.split["train"] == {"traces": 1, "steps": steps}
    step = next(iter(result.path.glob("index/steps.jsonl"))).read_text().splitlines()[0]
    played = subprocess.run(
        [WMH, "play", "--name", "one", "--root", str(tmp_path)],
        input=_as_play_line(step), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr
    assert _content(step)[:40] in played.stdout


def _as_play_line(step_line: str) -> str:
    import json

    action = json.loads(step_line)["action"]
    return f"{action['name']} {json.dumps(action['arguments'])}\n"


def _content(step_line: str) -> str:
    import json

    return json.loads(step_line)["observation"]["content"]


def test_gepa_scores_candidates_on_train_traces_when_there_is_no_valid_split(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    corpus = write_corpus(tmp_path / "eight.jsonl", traces=8, seed=5)
    fake_llm.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
    settings = gepa_settings(
        tmp_path, corpus, fake_llm, "eight", "split.train=0.9", "split.valid=0", "gepa.budget=20"
    )
    result = build_world_model(settings)
    evolved = result.evolve
    assert evolved is not None and not evolved.skipped
    assert result.card.split["valid"]["traces"] == 0
    assert evolved.measured_on.startswith("train traces, each left out of the index")
    assert len(evolved.candidates) >= 2 and evolved.rollouts > 0
    best = evolved.candidates[evolved.best_index]
    assert "COPY THE FIRST EXAMPLE" in best.text


def test_a_five_trace_corpus_is_indexed_whole_and_a_six_trace_one_is_split(
    tmp_path: Path,
) -> None:
    """The bound is five traces, inclusive: with fractions that would hold three of these five
    out, a build of five indexes them all (no held-out score); one more trace and the split
    holds some out and scores them."""
    splits = {}
    for traces in (5, 6):
        corpus = write_corpus(tmp_path / f"{traces}.jsonl", traces=traces, seed=3)
        settings = make_settings(
            tmp_path, f"small-{traces}", [corpus],
            "split.train=0.5", "split.valid=0.25", "split.test=0.25",
        )  # fmt: skip
        card = build_world_model(settings).card
        splits[traces] = ({part: card.split[part]["traces"] for part in card.split}, card)
    five, five_card = splits[5]
    assert five == {"train": 5, "valid": 0, "test": 0}
    assert five_card.heldout_score is None
    six, _ = splits[6]
    assert six["train"] < 6 and six["valid"] + six["test"] == 6 - six["train"]


def test_a_split_that_leaves_train_empty_is_refused_and_publishes_nothing(
    tmp_path: Path,
) -> None:
    """Six traces with split.train=0.001: the hash sends every one to valid or test. The index
    is built from the train part, so the build stops saying so, and no model is published."""
    import pytest

    from wmh.errors import EmptyCorpusError

    corpus = write_corpus(tmp_path / "six.jsonl", traces=6, seed=3)
    settings = make_settings(
        tmp_path, "none", [corpus], "split.train=0.001", "split.valid=0.499", "split.test=0.5"
    )
    with pytest.raises(EmptyCorpusError, match="the train split is empty: all 6 traces went"):
        build_world_model(settings)
    assert not (tmp_path / "models" / "none").exists()

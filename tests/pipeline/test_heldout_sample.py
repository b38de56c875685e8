"""A build scores a stable sample of whole held-out traces when there are more held-out steps than
`split.heldout_max_steps`, and says so; `wmh eval` still scores every held-out step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from wmh.errors import ConfigError
from wmh.ingest.reader import read_traces
from wmh.ingest.split import split_with
from wmh.pipeline.build import build_world_model
from wmh.pipeline.fit_replay import selection_traces

WMH = str(Path(sys.executable).parent / "wmh")


def test_the_build_scores_a_stable_sample_of_whole_held_out_traces(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    settings = make_settings(tmp_path, "x", [synthetic_corpus])
    test = split_with(read_traces([synthetic_corpus]).traces, settings.split).test
    total = sum(len(t.steps) for t in test)
    cap = total // 4
    sampled = build_world_model(
        make_settings(tmp_path, "sampled", [synthetic_corpus], f"split.heldout_max_steps={cap}")
    )
    assert sampled.heldout is not None
    steps = sampled.heldout.overall.steps
    assert cap <= steps < total
    assert sampled.heldout.sampled_from == total
    assert sampled.card.heldout_sampled_from == total
    # Whole traces: every scored trace is scored on all its steps.
    scored = {r.trace_id for r in sampled.heldout.steps}
    assert 0 < len(scored) < len(test)
    assert steps == sum(len(t.steps) for t in test if t.trace_id in scored)
    # The draw is by a stable hash of the trace ids, not by their order.
    assert scored == {t.trace_id for t in selection_traces(test[::-1], cap, "heldout")}


def test_the_build_summary_says_the_held_out_score_is_a_sample(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    built = subprocess.run(
        [WMH, "build", "--name", "cut", "--file", str(synthetic_corpus), "--root", str(tmp_path),
         "--no-interactive", "-o", "track=false", "-o", "split.heldout_max_steps=30"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    card = json.loads((tmp_path / "models" / "cut" / "model.json").read_text())
    total = card["heldout_sampled_from"]
    assert total > 30
    text = " ".join(built.stdout.split())
    assert f"a stable sample of whole traces: {total} held-out steps" in text


def test_a_negative_cap_is_refused(tmp_path: Path, synthetic_corpus: Path) -> None:
    with pytest.raises(ConfigError, match="split.heldout_max_steps must be 0"):
        build_world_model(
            make_settings(tmp_path, "bad", [synthetic_corpus], "split.heldout_max_steps=-1")
        )

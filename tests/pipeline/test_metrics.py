"""What a build measures and records in metrics.json, beside its card: the figures a person (and
`dvc metrics`) reads to see what was built from what, measured on traces they did not come from."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_settings
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model


def test_metrics_json_records_the_split_ingest_fit_and_held_out_figures_of_the_card(
    built_model: Path,
) -> None:
    metrics = json.loads((built_model / "metrics.json").read_text())
    card = json.loads((built_model / "model.json").read_text())
    # Every ingested step is in one part of the split, as the card says.
    assert metrics["split"] == card["split"]
    assert set(metrics["split"]) == {"train", "valid", "test"}
    assert sum(part["steps"] for part in metrics["split"].values()) == metrics["ingest"]["steps"]
    assert metrics["ingest"] == card["ingest"] and metrics["ingest"]["steps"] > 0
    # The replay fit: what each tool was measured on and chose.
    assert metrics["replay_fit"] == card["replay_fit"]
    assert metrics["replay_fit"]["steps"] > 0 and metrics["replay_fit"]["tools"]
    # Every stage's time is recorded (their values are not figures to test).
    assert {"ingest_s", "split_s", "embed_s", "index_s", "fit_s", "evaluate_s"} <= set(
        metrics["timings"]
    )
    # Every held-out step was scored (none sampled), as the card says.
    heldout = metrics["heldout"]["overall"]
    assert heldout["steps"] == card["heldout_steps"] == metrics["split"]["test"]["steps"] > 0
    assert heldout["score"] == card["heldout_score"]
    # A replay build runs no GEPA: no optimized and base scores are claimed for it.
    gepa = metrics["gepa"]
    assert gepa["skipped"].startswith("provider=replay has no prompt to tune")
    assert "test_optimized" not in gepa and "test_base" not in gepa


def test_the_fit_and_the_held_out_score_never_see_the_test_traces(tmp_path: Path) -> None:
    """The replay fit measures the train and valid traces only (all of them, in a corpus this
    small), and no held-out step is answered from a recording of a held-out trace (its own or
    another's): the index hides the test traces until the model is published."""
    corpus = write_corpus(tmp_path / "traces.jsonl", traces=40, seed=5)
    result = build_world_model(make_settings(tmp_path, "m", [corpus]))
    split = result.card.split
    assert split["test"]["traces"] > 0
    assert result.card.replay_fit.traces == split["train"]["traces"] + split["valid"]["traces"]
    assert result.heldout is not None
    steps = result.heldout.steps
    taken = [s for s in steps if s.from_step]
    assert len(steps) == split["test"]["steps"] and len(taken) > len(steps) / 2
    held_out = {s.trace_id for s in steps}
    assert not [s for s in taken if s.from_step.rsplit(":", 1)[0] in held_out]

"""A build tells its caller which stage runs, how far it got (counted) and when each ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model

STAGES = ["ingest", "split", "embed", "index", "fit", "optimize", "evaluate", "write"]


def test_progress_counts_steps_embedded_and_held_out_steps_scored(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c.jsonl", traces=40, seed=8)
    started: list[str] = []
    progress: list[tuple[str, int, int | None, str]] = []
    ended: list[str] = []
    result = build_world_model(
        make_settings(tmp_path, "p", [corpus]),
        on_stage=started.append,
        on_progress=lambda *event: progress.append(event),
        on_done=lambda stage, seconds: ended.append(stage),
    )
    assert started == ended == STAGES
    indexed = [e for e in progress if e[0] == "index"]
    steps = sum(part["steps"] for part in result.card.split.values())
    assert indexed[-1] == ("index", steps, steps, "steps embedded")
    assert [e[1] for e in indexed] == sorted({e[1] for e in indexed})  # counts only grow
    scored = [e for e in progress if e[0] == "evaluate"]
    assert result.heldout is not None
    held = result.card.split["test"]["steps"]
    assert scored[-1] == ("evaluate", held, held, "held-out steps scored")
    assert result.heldout.overall.steps == held


def test_off_a_terminal_wmh_build_prints_a_line_per_finished_stage(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c.jsonl", traces=12, seed=9)
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "build", "--name", "q", "--file", str(corpus),
         "--root", str(tmp_path), "--no-interactive", "-o", "track=false"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split()[0] for line in done.stdout.splitlines() if " done in " in line]
    assert lines == STAGES

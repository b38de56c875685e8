"""The RL example runs from its README: scenarios, GRPO and PPO batches, SFT and SDPO files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wmh.core.types import ActionKind
from wmh.store.splits import read_part

ROOT = Path(__file__).resolve().parents[2]


def test_the_rl_example_writes_scored_batches_and_datasets(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rl" / "run.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GRPO batch: 4 rollouts per scenario" in done.stdout
    batches = json.loads((tmp_path / "batches.json").read_text())
    assert len(batches["grpo"]) == 4
    for group in batches["grpo"]:
        rewards = group["rewards"]
        # The success check: 1 when the request was completed, else half the share of steps
        # that went through, so below 0.5.
        assert len(rewards) == 4 and all(r == 1.0 or 0 <= r < 0.5 for r in rewards)
        # Group-relative advantages, computed here from the rewards.
        mean, spread = np.mean(rewards), np.std(rewards)
        assert group["advantages"] == pytest.approx(
            [(r - mean) / (spread + 1e-6) for r in rewards], abs=1e-3
        )
        line = " ".join(f"{r:.2f}" for r in rewards)
        assert f"{group['scenario'][:8]}  rewards {line}" in done.stdout
    assert any(len(set(g["rewards"])) > 1 for g in batches["grpo"])  # seeds make rollouts differ
    ppo = batches["ppo"]
    baseline = np.mean([row["reward"] for row in ppo])
    assert [row["advantage"] for row in ppo] == pytest.approx(
        [row["reward"] - baseline for row in ppo], abs=1e-3
    )
    model = ROOT / "examples" / "airline" / "models" / "airline"
    calls = sum(
        1
        for trace in read_part(model, "train")
        for step in trace.steps
        if step.action.kind is ActionKind.TOOL_CALL
    )
    sft = (tmp_path / "sft.jsonl").read_text().splitlines()
    assert len(sft) == batches["sft"] == calls
    first = json.loads(sft[0])
    assert first["messages"][0]["role"] == "user" and first["target"]["tool_call"]["name"]
    sdpo = [json.loads(line) for line in (tmp_path / "sdpo.jsonl").read_text().splitlines()]
    assert len(sdpo) == 16 and all(r["critique"] and r["rollout"] for r in sdpo)

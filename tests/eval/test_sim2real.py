"""Sim-to-real: the same seeded agent in each example's world model and real environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.eval.sim2real import run_sim2real
from wmh.scoring.factory import make_reward

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("task", ["airline", "terminal-tasks", "code-tasks"])
def test_each_example_gets_closed_loop_figures_beside_the_baseline(task: str) -> None:
    report = run_sim2real(EXAMPLES / task, episodes=3, seed=1)
    assert report.episodes == 3 == len(report.results) and report.scored_steps > 0
    # The overall figures are the step-weighted means of the per-tool and per-episode ones.
    tools = report.per_tool.values()
    assert (
        sum(f.steps for f in tools) == report.scored_steps == sum(r.scored for r in report.results)
    )
    weighted = sum(f.fidelity * f.steps for f in tools) / report.scored_steps
    assert report.fidelity == pytest.approx(weighted, abs=1e-3)  # (each mean is rounded)
    by_episode = [(r.fidelity, r.scored) for r in report.results if r.scored]
    assert report.fidelity == pytest.approx(
        sum(f * n for f, n in by_episode) / report.scored_steps, abs=1e-3
    )
    # A world model that answered nothing like the real environment would be near 0.
    assert report.fidelity > 0.3 and report.nn_copy > 0.2
    assert run_sim2real(EXAMPLES / task, episodes=3, seed=1).fidelity == report.fidelity


def test_episode_rewards_are_compared_when_a_judge_is_set(fake_llm: FakeLLM) -> None:
    fake_llm.default = Reply('{"steps": [], "episode": 1.0, "critique": "done"}')
    provider = ProviderConfig(
        name="openai_compatible", model="openai/judge", api_base=fake_llm.api_base, num_retries=0
    )
    judge = make_reward(RewardConfig(name="rubric", rubric="r"), provider)
    report = run_sim2real(EXAMPLES / "terminal-tasks", episodes=2, seed=0, reward=judge)
    assert report.reward_agreement == 1.0
    assert all(r.reward_sim == r.reward_real == 1.0 for r in report.results)
    assert len(fake_llm.requests) == 4  # sim and real, per episode


def test_wmh_eval_sim2real_prints_writes_json_and_tracks(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "wmh"),
            "eval",
            "sim2real",
            "terminal-tasks",
            "--episodes",
            "2",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "COLUMNS": "160",
            "PATH": str(Path(sys.executable).parent),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        },
    )
    assert done.returncode == 0, done.stderr
    assert "closed-loop fidelity" in done.stdout and "MLflow run" in done.stdout
    (written,) = (tmp_path / "evals" / "terminal-tasks").glob("sim2real-*.json")
    assert json.loads(written.read_text())["episodes"] == 2


def test_the_code_tasks_success_check_rewards_both_worlds() -> None:
    from wmh.eval.sim2real import example_success_check

    check = example_success_check(EXAMPLES / "code-tasks")
    assert check is not None and example_success_check(EXAMPLES / "terminal-tasks") is None
    report = run_sim2real(EXAMPLES / "code-tasks", episodes=3, seed=0, reward=check)
    assert report.reward == "success" and report.reward_agreement is not None
    assert all(r.reward_real in (0.0, 1.0) and r.critique_real for r in report.results)

"""Sim-to-real: the same seeded agent in each example's world model and real environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.core.reward import RewardJudge, RewardVerdict
from wmh.core.types import Turn
from wmh.eval.sim2real import Sim2RealReport, load_real_env, run_sim2real
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


def test_each_step_is_the_simulated_answer_judged_against_the_real_one_never_a_held_out_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per episode, the fidelity is the structural judge's of each simulated tool answer
    against the real environment's, and no simulated answer comes from a held-out trace (the
    episodes replay them)."""
    import wmh.eval.sim2real as sim2real
    from wmh.core.types import ActionKind
    from wmh.scoring.judges import StructuralJudge
    from wmh.store.splits import agent_traces

    episodes: list[Any] = []
    real_run = sim2real.run_episode

    def recorded(*args: Any, **kwargs: Any) -> Any:
        episodes.append(real_run(*args, **kwargs))
        return episodes[-1]

    monkeypatch.setattr(sim2real, "run_episode", recorded)
    report = run_sim2real(EXAMPLES / "airline", episodes=3, seed=1)
    judge = StructuralJudge()
    held = {t.trace_id for t in agent_traces(EXAMPLES / "airline" / "models" / "airline")}
    every: list[float] = []
    for result, real, sim in zip(report.results, episodes[0::2], episodes[1::2], strict=True):
        pairs = [
            (s.observation, r.observation)
            for s, r in zip(sim.steps, real.steps, strict=True)
            if r.action.kind is ActionKind.TOOL_CALL
        ]
        scores = [judge.judge(simulated, actual).score for simulated, actual in pairs]
        assert result.fidelity == pytest.approx(sum(scores) / len(scores), abs=1e-4)
        every.extend(scores)
        taken = [str(s.metadata.get("from_step", "")).split(":")[0] for s, _ in pairs]
        assert any(taken) and not set(taken) & held
    assert min(every) < 1.0  # the world model is not the real environment: a real comparison


class RecordingJudge:
    """A reward judge that passes each episode to `inner` and keeps what it was given and
    answered, so a test can tell the simulated episode's turns from the real one's (the real
    environment marks its observations with its name as their source)."""

    def __init__(self, inner: RewardJudge, example: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[tuple[list[Turn], RewardVerdict]] = []
        real = load_real_env(EXAMPLES / example)
        self.real_source = real.name
        real.close()

    def judge(self, task: str, turns: Sequence[Turn]) -> RewardVerdict:
        verdict = self.inner.judge(task, turns)
        self.calls.append((list(turns), verdict))
        return verdict

    def _is_real(self, turn: Turn) -> bool:
        return turn.observation.metadata.get("source") == self.real_source

    def check_against(self, report: Sim2RealReport) -> None:
        """Each episode's rewards are the verdicts on its own real and simulated turns."""
        assert len(self.calls) == 2 * len(report.results)
        pairs = []
        for i, result in enumerate(report.results):
            calls = self.calls[2 * i : 2 * i + 2]
            real = [c for c in calls if all(self._is_real(t) for t in c[0])]
            sim = [c for c in calls if not any(self._is_real(t) for t in c[0])]
            assert len(real) == len(sim) == 1, "one episode judged on real turns, one on simulated"
            (real_turns, real_verdict), (sim_turns, sim_verdict) = real[0], sim[0]
            assert [t.action for t in sim_turns] == [t.action for t in real_turns]
            assert len(real_turns) == result.steps
            assert (result.reward_sim, result.reward_real) == (
                sim_verdict.episode,
                real_verdict.episode,
            )
            assert (result.critique_sim, result.critique_real) == (
                sim_verdict.critique,
                real_verdict.critique,
            )
            pairs.append((sim_verdict.episode, real_verdict.episode))
        agreeing = [abs(s - r) <= 0.2 for s, r in pairs]
        assert report.reward_agreement == pytest.approx(sum(agreeing) / len(agreeing), abs=1e-4)


def _graded_by_transcript(body: dict[str, Any]) -> Reply:
    """A judge whose grade follows the transcript it is shown (so the simulated and the real
    episode, which differ, get different grades)."""
    prompt = str(body["messages"][-1]["content"])
    transcript = prompt.split("Transcript", 1)[1]
    grade = (zlib.crc32(transcript.encode()) % 101) / 100
    return Reply(json.dumps({"steps": [], "episode": grade, "critique": f"graded {grade}"}))


def test_episode_rewards_are_compared_when_a_judge_is_set(fake_llm: FakeLLM) -> None:
    fake_llm.default = _graded_by_transcript
    provider = ProviderConfig(
        name="openai_compatible", model="openai/judge", api_base=fake_llm.api_base, num_retries=0
    )
    judge = RecordingJudge(
        make_reward(RewardConfig(name="rubric", rubric="r"), provider), "terminal-tasks"
    )
    report = run_sim2real(EXAMPLES / "terminal-tasks", episodes=3, seed=0, reward=judge)
    assert len(fake_llm.requests) == 6  # sim and real, per episode
    judge.check_against(report)
    # The two worlds answered differently somewhere, so the judge graded them apart.
    assert any(r.reward_sim != r.reward_real for r in report.results)


def _sim2real(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`wmh eval sim2real terminal-tasks --episodes 2 --root ROOT ARGS` as a user runs it."""
    where = str(Path(sys.executable).parent)
    argv = [f"{where}/wmh", "eval", "sim2real", "terminal-tasks", "--episodes", "2"]
    return subprocess.run(
        [*argv, "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "300", "PATH": where, **env},
    )


def test_wmh_eval_sim2real_prints_writes_json_and_tracks(tmp_path: Path) -> None:
    done = _sim2real(tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'm.db'}")
    assert done.returncode == 0, done.stderr
    assert "closed-loop fidelity" in done.stdout and "MLflow run" in done.stdout
    (written,) = (tmp_path / "evals" / "terminal-tasks").glob("sim2real-*.json")
    figures = json.loads(written.read_text())
    assert figures["episodes"] == 2
    # The run holds the figures the JSON does (a run with no metrics passed the check above).
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments, "attributes.run_name LIKE 'sim2real-%'")
    assert run.data.metrics["sim2real.fidelity"] == pytest.approx(figures["fidelity"])
    assert run.data.metrics["sim2real.baseline.nn_copy"] == pytest.approx(figures["nn_copy"])


def test_the_code_tasks_success_check_rewards_both_worlds() -> None:
    from wmh.eval.sim2real import example_success_check

    check = example_success_check(EXAMPLES / "code-tasks")
    assert check is not None and example_success_check(EXAMPLES / "terminal-tasks") is None
    judge = RecordingJudge(check, "code-tasks")
    report = run_sim2real(EXAMPLES / "code-tasks", episodes=3, seed=0, reward=judge)
    assert report.reward == "success"
    judge.check_against(report)
    assert all(r.reward_real in (0.0, 1.0) and r.critique_real for r in report.results)


def test_an_unknown_example_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "eval", "sim2real", "nosuch", "--no-track"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    # It said "examples/nosuch/models/nosuch: no recorded steps to sample actions from".
    said = "error: no example task 'nosuch' (available: airline, code-tasks, terminal-tasks)"
    assert done.returncode == 1 and said in done.stdout + done.stderr


def test_an_episode_the_judge_cannot_grade_is_counted_and_the_run_goes_on(
    fake_llm: FakeLLM,
) -> None:
    """The first judge answer with no score ended the whole run (a ProviderError out of
    `run_sim2real`), losing every episode's figures."""
    fake_llm.script = [Reply("I think it went well")]
    fake_llm.default = _graded_by_transcript
    provider = ProviderConfig(
        name="openai_compatible", model="openai/judge", api_base=fake_llm.api_base, num_retries=0
    )
    judge = make_reward(RewardConfig(name="rubric", rubric="r"), provider)
    report = run_sim2real(EXAMPLES / "terminal-tasks", episodes=3, seed=0, reward=judge)
    first, *graded = report.results
    assert report.reward_failures == 1 and len(graded) == 2
    assert "holds no JSON verdict: 'I think it went well'" in first.reward_error
    assert (first.reward_sim, first.reward_real) == (None, None)
    assert all(r.reward_sim is not None and not r.reward_error for r in graded)
    assert first.scored > 0 and first.fidelity is not None  # its steps are still figures
    # The agreement is over the two graded episodes alone.
    agreeing = [abs(r.reward_sim - r.reward_real) <= 0.2 for r in graded]  # type: ignore[operator]
    assert report.reward_agreement == pytest.approx(sum(agreeing) / 2, abs=1e-4)


def test_wmh_eval_sim2real_with_no_episode_graded_keeps_the_report_and_fails(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = Reply('{"critique": "no score"}')
    overrides = ["reward=rubric", "provider=openai_compatible", "provider.num_retries=0"]
    overrides.append(f"provider.api_base={fake_llm.api_base}")
    done = _sim2real(tmp_path, "--no-track", *(f"-o{o}" for o in overrides))
    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "2 of 2 episodes not graded" in out and "no episode's reward was judged" in out
    (written,) = (tmp_path / "evals" / "terminal-tasks").glob("sim2real-*.json")
    figures = json.loads(written.read_text())
    assert figures["reward_failures"] == 2 and figures["scored_steps"] > 0
    assert all("has no episode score" in r["reward_error"] for r in figures["results"])

"""`run_episode`: an agent against any `Env`, recorded step by step, with why it stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wmh.agents.base import Agent
from wmh.core.reward import RewardJudge
from wmh.core.types import Action, EnvState, EpisodeScore, Observation, Turn, UsageTotals
from wmh.engine.usage import observation_usage, totals_dict
from wmh.env.base import Env
from wmh.errors import ConfigError


class StopReason(StrEnum):
    DONE = "done"  # the agent stopped (its done signal)
    MAX_STEPS = "max_steps"
    ERROR = "error"  # the agent or the environment raised


@dataclass
class EpisodeStep:
    action: Action
    observation: Observation
    latency_s: float
    reward: float | None = None


@dataclass
class Episode:
    task: str
    steps: list[EpisodeStep] = field(default_factory=list)
    reward: float | None = None
    critique: str = ""
    stop_reason: StopReason = StopReason.DONE
    error: str = ""
    score: EpisodeScore | None = None  # with score_on_close: the environment's own judge
    usage: dict[str, float] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        """Stopped by max_steps rather than by the agent."""
        return self.stop_reason is StopReason.MAX_STEPS

    @property
    def actions(self) -> list[Action]:
        return [s.action for s in self.steps]

    @property
    def observations(self) -> list[Observation]:
        return [s.observation for s in self.steps]

    @property
    def rewards(self) -> list[float | None]:
        return [s.reward for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "reward": self.reward,
            "critique": self.critique,
            "stop_reason": self.stop_reason.value,
            "error": self.error,
            "score": self.score.model_dump() if self.score else None,
            "truncated": self.truncated,
            "usage": self.usage,
            "steps": [
                {
                    "action": s.action.model_dump(mode="json"),
                    "observation": s.observation.model_dump(mode="json"),
                    "latency_s": s.latency_s,
                    "reward": s.reward,
                }
                for s in self.steps
            ],
        }


def _act(env: Env, agent: Agent, task: str, episode: Episode, max_steps: int) -> list[Turn]:
    history: list[Turn] = []
    for _ in range(max_steps):
        action = agent.act(task, history)
        if action is None:
            episode.stop_reason = StopReason.DONE
            return history
        started = time.perf_counter()
        observation = env.step(action)
        episode.steps.append(EpisodeStep(action, observation, time.perf_counter() - started))
        history.append(Turn(action=action, observation=observation))
    episode.stop_reason = StopReason.MAX_STEPS
    return history


def run_episode(
    env: Env,
    agent: Agent,
    task: str,
    max_steps: int = 20,
    reward: RewardJudge | None = None,
    *,
    seed_state: EnvState | None = None,
    score_on_close: bool = False,
) -> Episode:
    """Reset `env` with `task` (and `seed_state`), let `agent` act until it stops, `max_steps`,
    or something raises (the episode then ends with `stop_reason="error"` and the error, never
    a traceback). The env is left open (the caller owns it) unless `score_on_close`: then the
    environment's own judge scores the episode (`score`) and the env is closed. Usage adds up
    what the environment's answers report. With a reward judge, each step and the episode get a
    reward in [0, 1] and the episode a critique."""
    if max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
    if score_on_close and getattr(env, "can_score", True) is False:
        # Known before the episode runs: it would be played, then lost to the error.
        raise ConfigError(
            "score_on_close needs an environment that can score: "
            f"{getattr(getattr(env, 'wm', None), 'name', 'this one')} has no reward judge "
            "(load it with reward=rubric or reward=success)"
        )
    env.reset(task, seed_state)
    episode = Episode(task=task)
    history: list[Turn] = []
    try:
        history = _act(env, agent, task, episode, max_steps)
    except Exception as exc:  # noqa: BLE001 - any failure of agent or env ends the episode
        episode.stop_reason, episode.error = StopReason.ERROR, f"{type(exc).__name__}: {exc}"
        history = [Turn(action=s.action, observation=s.observation) for s in episode.steps]
    totals = UsageTotals()
    for step in episode.steps:
        usage = observation_usage(step.observation)
        if usage is not None:
            totals.add(usage)
    episode.usage = totals_dict(totals, len(episode.steps))
    if reward is not None:
        verdict = reward.judge(task, history)
        episode.reward, episode.critique = verdict.episode, verdict.critique
        for step, score in zip(episode.steps, verdict.steps, strict=False):
            step.reward = score
    if score_on_close:
        scorer = getattr(env, "score", None)
        if scorer is not None:
            episode.score = scorer()
        env.close()
    return episode

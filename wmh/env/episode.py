"""`run_episode`: an agent against any `Env`, recorded step by step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from wmh.agents.base import Agent
from wmh.core.types import Action, Observation, Turn
from wmh.engine.usage import add_usage
from wmh.env.base import Env
from wmh.scoring.rewards import RewardJudge


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
    truncated: bool = False  # stopped by max_steps rather than by the agent
    usage: dict[str, float] = field(default_factory=dict)

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


def run_episode(
    env: Env, agent: Agent, task: str, max_steps: int = 20, reward: RewardJudge | None = None
) -> Episode:
    """Reset `env` with `task`, let `agent` act until it stops or `max_steps`; the env is left
    open (the caller owns it). Usage adds up what the environment's answers report (tokens, cost
    and latency of an LLM world model). With a reward judge, each step and the episode get a
    reward in [0, 1] and the episode a critique."""
    env.reset(task)
    episode = Episode(task=task)
    history: list[Turn] = []
    usage: dict[str, float] = {"steps": 0}
    for _ in range(max_steps):
        action = agent.act(task, history)
        if action is None:
            break
        started = time.perf_counter()
        observation = env.step(action)
        elapsed = time.perf_counter() - started
        episode.steps.append(EpisodeStep(action, observation, elapsed))
        history.append(Turn(action=action, observation=observation))
        add_usage(usage, observation)
    else:
        episode.truncated = True
    episode.usage = usage
    if reward is not None:
        verdict = reward.judge(task, history)
        episode.reward, episode.critique = verdict.episode, verdict.critique
        for step, score in zip(episode.steps, verdict.steps, strict=False):
            step.reward = score
    return episode

"""Environments agents step: a world model, or the real thing, behind one protocol.

from wmh.env import WorldModelEnv, run_episode
env = WorldModelEnv(wm)                 # or the example's real environment
episode = run_episode(env, agent, task="cancel my reservation", max_steps=20)
"""

from wmh.env.base import Env, ToolBackend, ToolEnv, WorldModelEnv
from wmh.env.episode import Episode, EpisodeStep, StopReason, run_episode
from wmh.env.scenarios import Scenario, model_scenarios, scenarios_from_traces

__all__ = [
    "Env",
    "Episode",
    "EpisodeStep",
    "Scenario",
    "StopReason",
    "model_scenarios",
    "scenarios_from_traces",
    "ToolBackend",
    "ToolEnv",
    "WorldModelEnv",
    "run_episode",
]

"""A short scripted run of an agent against a world model, step by step with latencies.

With the sampled agent, each prediction is also scored against what the real environment
answered in the recorded trace (structural judge), so the demo shows fidelity as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from wmh.agents.base import Agent
from wmh.agents.sampled import SampledAgent
from wmh.core.types import Action, Observation
from wmh.engine.world_model import WorldModel
from wmh.scoring.judges import StructuralJudge


@dataclass
class DemoStep:
    index: int
    action: Action
    observation: Observation
    latency_ms: float
    recorded: Observation | None = None
    fidelity: float | None = None


def run_demo(wm: WorldModel, agent: Agent, task: str, max_steps: int) -> Iterator[DemoStep]:
    """Step a new session of `wm` with `agent` for at most `max_steps` actions."""
    session = wm.new_session(task)
    judge = StructuralJudge()
    try:
        for i in range(max_steps):
            action = agent.act(task, wm.session(session.id).history)
            if action is None:
                return
            started = time.perf_counter()
            observation = wm.step(session.id, action)
            latency_ms = (time.perf_counter() - started) * 1000
            step = DemoStep(i, action, observation, latency_ms)
            if isinstance(agent, SampledAgent):
                step.recorded = agent.expected(i).observation
                step.fidelity = judge.judge(observation, step.recorded).score
            yield step
    finally:
        wm.close_session(session.id)

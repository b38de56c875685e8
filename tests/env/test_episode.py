"""One agent, one `run_episode`, against a world model and against the real environment."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import FakeClock
from tests.examples.loading import EXAMPLES, load_example_module
from tests.fake_llm import FakeLLM, Reply
from wmh.agents.sampled import SampledAgent, pick_trace
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.env import ToolEnv, WorldModelEnv, run_episode
from wmh.env import episode as episode_module
from wmh.errors import WmhError
from wmh.scoring.factory import make_reward
from wmh.store.loader import load_world_model
from wmh.store.splits import agent_traces


class _SlowSteps:
    """An environment around another whose i-th step takes (i + 1) / 4 s on `clock`."""

    def __init__(self, inner: WorldModelEnv, clock: FakeClock) -> None:
        self.inner, self.clock, self.steps = inner, clock, 0

    def reset(self, task: str = "", seed_state=None):
        return self.inner.reset(task, seed_state)

    def step(self, action):
        observation = self.inner.step(action)
        self.steps += 1
        self.clock.now += self.steps / 4
        return observation


class _SlowAgent(SampledAgent):
    """The sampled agent, each of whose choices takes 100 s on `clock` (not a step's time)."""

    def __init__(self, trace, clock: FakeClock) -> None:
        super().__init__(trace)
        self.clock = clock

    def act(self, task, history):
        self.clock.now += 100
        return super().act(task, history)


def _answers_in_a_new_session(wm, task: str, actions: list) -> list:
    """The world model's own answers to these actions, stepped in a session of their own."""
    session = wm.new_session(task=task)
    answers = [wm.step(session.id, action) for action in actions]
    wm.close_session(session.id)
    return answers


def test_an_episode_against_a_world_model_records_every_step(
    built_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wm, _ = load_world_model(built_model)
    clock = FakeClock()
    monkeypatch.setattr(episode_module, "time", SimpleNamespace(perf_counter=clock))
    agent = _SlowAgent(pick_trace(agent_traces(built_model), seed=1), clock)
    env = WorldModelEnv(wm)
    episode = run_episode(_SlowSteps(env, clock), agent, agent.task, max_steps=50)
    recorded = [s.action for s in agent.trace.steps]
    assert episode.actions == recorded
    assert not episode.truncated and episode.usage["steps"] == len(recorded)
    # each step's own time (the environment's answer, not the agent's choice), in seconds
    assert [step.latency_s for step in episode.steps] == [(i + 1) / 4 for i in range(len(recorded))]
    # the observations are the world model's answers to those actions, in its own session
    history = wm.session(env.session_id or "").history
    assert [t.action for t in history] == recorded
    assert episode.observations == [t.observation for t in history]
    assert episode.observations == _answers_in_a_new_session(wm, agent.task, recorded)
    short = run_episode(env, agent, agent.task, max_steps=1)
    assert short.truncated and len(short.steps) == 1
    env.close()
    assert len(wm.sessions) == 0
    with pytest.raises(WmhError, match="reset"):
        env.step(agent.trace.steps[0].action)


def test_the_tools_a_world_model_offers_are_inferred_from_its_traces(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    schemas = WorldModelEnv(wm).tools()
    get_user = schemas["get_user"]["inputSchema"]
    assert get_user["required"] == ["user_id"]
    assert get_user["properties"]["user_id"]["type"] == "integer"  # as the recorded calls pass it
    assert len(get_user["properties"]["user_id"]["examples"]) == 3
    assert "recorded" in schemas["get_user"]["description"]


def test_the_same_agent_steps_the_real_airline_and_its_world_model() -> None:
    """Swapping the world model for the real environment is one line."""
    airline = load_example_module("airline", "wmh_examples_airline_env", "env.py")
    model_dir = EXAMPLES / "airline" / "models" / "airline"
    agent = SampledAgent(pick_trace(agent_traces(model_dir), seed=2))
    wm, _ = load_world_model(model_dir)
    simulated = run_episode(WorldModelEnv(wm), agent, agent.task, max_steps=30)
    real_env = ToolEnv(airline.AirlineEnv(seed=0), lambda backend, task: backend.reset())
    real = run_episode(real_env, agent, agent.task, max_steps=30)
    real_env.close()
    assert simulated.actions == real.actions
    assert all(o.metadata["source"] == "real" for o in real.observations)
    # the simulated side answered from the world model: its own answers, step by step
    assert simulated.observations == _answers_in_a_new_session(wm, agent.task, simulated.actions)
    assert not any(o.metadata.get("source") == "real" for o in simulated.observations)
    tool_steps = [o for a, o in zip(real.actions, real.observations, strict=True) if a.name]
    assert tool_steps and all(o.content for o in tool_steps)
    assert set(real_env.tools()) >= {a.name for a in real.actions if a.name}


def test_the_perturbed_policy_is_seeded_and_leaves_the_recorded_path(built_model: Path) -> None:
    from wmh.agents.sampled import PerturbedAgent, recorded_values

    wm, _ = load_world_model(built_model)
    values = recorded_values(wm.tool_schemas())
    trace = max(agent_traces(built_model), key=lambda t: len(t.steps))
    first = PerturbedAgent(trace, values, seed=5, rate=1.0)
    again = PerturbedAgent(trace, values, seed=5, rate=1.0)
    assert first.actions == again.actions
    recorded = [s.action for s in trace.steps]
    changed = [a for a, r in zip(first.actions, recorded, strict=True) if a != r]
    pairs = zip(first.actions, recorded, strict=True)
    assert changed and all(a.key() != r.key() for a, r in pairs if a != r)
    episode = run_episode(WorldModelEnv(wm), first, first.task, max_steps=50)
    assert episode.actions == first.actions
    assert PerturbedAgent(trace, values, seed=5, rate=0.0).actions == recorded


def test_run_episode_carries_the_judges_rewards(built_model, fake_llm: FakeLLM) -> None:
    wm, _ = load_world_model(built_model)
    agent = SampledAgent(pick_trace(agent_traces(built_model), seed=0))
    n = len(agent.trace.steps)
    fake_llm.default = Reply(json.dumps({"steps": [0.5] * n, "episode": 0.9, "critique": "ok"}))
    provider = ProviderConfig(
        name="openai_compatible", model="openai/judge", api_base=fake_llm.api_base, num_retries=0
    )
    judge = make_reward(RewardConfig(name="rubric", rubric="r"), provider)
    episode = run_episode(WorldModelEnv(wm), agent, agent.task, max_steps=50, reward=judge)
    assert episode.reward == 0.9 and episode.critique == "ok"
    assert episode.rewards == [0.5] * n


class _Backend:
    """A real environment's tools, described both ways the backends describe them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def call(self, name: str, arguments: dict) -> tuple[str, bool]:
        self.calls.append((name, arguments))
        return (json.dumps(arguments), False) if name == "echo" else ("no such tool", True)

    def tools(self) -> dict:
        return {
            "echo": {"type": "object", "properties": {"x": {"type": "string"}}},
            "book": {
                "description": "Book a flight",
                "parameters": {"type": "object", "required": ["flight"]},
            },
            "cancel": {"type": "object", "description": "Cancel a booking"},
            "ping": {"description": "Are you there", "parameters": None},
        }

    def close(self) -> None:
        pass


def test_a_real_environments_tools_are_offered_by_their_argument_schemas() -> None:
    """A backend describes a tool by its argument schema, or by `{description, parameters}`:
    either way the tool's `inputSchema` is the argument schema itself, and its description the
    backend's own (a bare schema's top-level one; the tool's name when it gives none; it was
    always the name). A tool whose parameters are null takes none (it was a TypeError)."""
    env = ToolEnv(_Backend(), lambda backend, task: None)
    schemas = {name: spec["inputSchema"] for name, spec in env.tools().items()}
    assert schemas == {
        "echo": {"type": "object", "properties": {"x": {"type": "string"}}},
        "book": {"type": "object", "required": ["flight"]},
        "cancel": {"type": "object", "description": "Cancel a booking"},
        "ping": {},
    }
    described = {name: spec["description"] for name, spec in env.tools().items()}
    assert described == {
        "echo": "echo",
        "book": "Book a flight",
        "cancel": "Cancel a booking",
        "ping": "Are you there",
    }

"""The gymnasium adapter: gymnasium's own checker passes, and actions step the world model."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from wmh.core.types import Turn
from wmh.env.gym import ENV_ID, WorldModelGymEnv, as_text
from wmh.errors import ConfigError


def test_gymnasiums_checker_passes(built_model: Path) -> None:
    env = gym.make(ENV_ID, model_dir=built_model, max_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_json_actions_step_the_world_model_and_bad_ones_get_an_error(built_model: Path) -> None:
    judged: list[tuple[str, list[Turn]]] = []

    def reward_fn(task: str, turns: list[Turn]) -> float:
        """A reward that follows the episode: a tenth per turn so far."""
        judged.append((task, list(turns)))
        return len(turns) / 10

    env = WorldModelGymEnv(model_dir=built_model, max_steps=7, reward_fn=reward_fn)
    text, info = env.reset(seed=4)
    assert text == info["task"] and info["task"] in env.tasks and "get_user" in info["tools"]
    call = json.dumps({"tool": "get_user", "arguments": {"user_id": "u7"}})
    observation, reward, terminated, truncated, info = env.step(call)
    assert observation and reward == 0.1 and not terminated and not truncated
    history = env.wm.session(env.env.session_id or "").history
    assert not info["is_error"] and len(history) == 1
    # the reward judged this episode's task and its one turn, as the world model answered it
    assert judged == [(info["task"], history)]
    assert history[0].action.arguments == {"user_id": "u7"}
    assert history[0].observation.content == observation
    observation, reward, terminated, _, info = env.step("not json at all")
    assert observation.startswith("Error: the action is not JSON") and info["is_error"]
    assert reward == 0.1  # the bad action was not a turn
    _, reward, _, truncated, _ = env.step(json.dumps({"message": "thanks"}))
    assert not truncated and reward == 0.2  # the bad action was not a turn
    for bad, said in (
        ('{"tool": "get_user", "arguments": {"user_id": NaN}}', "holds nan, a number that"),
        ("[" * 5000 + "]" * 5000, "the action is nested too deep to parse"),
        ('{"tool": "get_user", "arguments": {"user_id": "\\ud800"}}', "not valid Unicode"),
    ):
        observation, reward, _, truncated, info = env.step(bad)
        assert info["is_error"] and said in observation and reward == 0.2 and not truncated
    _, reward, _, truncated, _ = env.step(call)
    assert truncated and reward == 0.3  # the seventh step: refused actions count toward it
    # An ended episode takes no more steps (they went on into its session) until reset.
    with pytest.raises(ConfigError, match="the episode has ended"):
        env.step(call)
    env.reset(seed=3)
    # A new episode's reward sees its own turns only, not the last episode's three.
    assert env.step(call)[1] == 0.1 and len(judged[-1][1]) == 1
    _, reward, terminated, truncated, info = env.step('{"done": true}')
    # Ending is no turn: the episode's reward is still judged, on its one turn.
    assert terminated and not truncated and reward == 0.1 and info["done"]
    assert len(judged[-1][1]) == 1
    with pytest.raises(ConfigError, match="call reset"):
        env.step(call)
    for steps in (0, -1):
        with pytest.raises(ConfigError, match=f"max_steps must be at least 1, got {steps}"):
            WorldModelGymEnv(model_dir=built_model, max_steps=steps)
    # A policy that writes only malformed actions still reaches the time limit.
    env.reset(seed=4)
    assert [env.step("not json")[3] for _ in range(7)] == [False] * 6 + [True]
    for options in ({"task": 5}, {"tsk": "a task"}):
        with pytest.raises(ConfigError, match="reset options take only 'task', a string"):
            env.reset(options=options)
    first = env.reset(seed=11)[0]
    assert env.reset(seed=11)[0] == first  # seeded task choice
    assert env.reset(options={"task": "my own task"})[1]["task"] == "my own task"
    env.close()


def test_observation_text_stays_inside_the_space() -> None:
    text = as_text("héllo\u2603 " + "x" * 10_000, limit=200)
    assert len(text) == 200 and "characters cut" in text and text.isascii()
    # The marker counts what it cut, its own room included (it said 9940 for 9929).
    for length, limit in ((10_000, 100), (101, 100), (10**6, 1000)):
        shown = as_text("z" * length, limit)
        said = int(re.search(r"\[\.\.\. (\d+) characters cut", shown).group(1))
        assert len(shown) == limit and said == length - shown.count("z")

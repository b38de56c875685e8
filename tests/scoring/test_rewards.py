"""Reward judging through the local OpenAI-compatible test server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.core.types import Action, Observation, Turn
from wmh.errors import ConfigError, ProviderError
from wmh.scoring.factory import make_reward
from wmh.scoring.rewards import parse_verdict


def _provider(fake: FakeLLM) -> ProviderConfig:
    return ProviderConfig(
        name="openai_compatible", model="openai/judge", api_base=fake.api_base, num_retries=0
    )


def test_the_rubric_judge_scores_steps_and_the_episode(fake_llm: FakeLLM) -> None:
    answer = {"steps": [1.0, 0.25], "episode": 0.8, "critique": "found the user, then stalled"}
    fake_llm.script = [Reply("Here you go: " + json.dumps(answer), delay_s=0.05)]
    judge = make_reward(RewardConfig(name="rubric", rubric="be fair"), _provider(fake_llm))
    assert judge is not None
    turns = [
        Turn(
            action=Action(name="get_user", arguments={"id": 1}),
            observation=Observation(content="{}"),
        ),
        Turn(action=Action(name="oops"), observation=Observation(content="Error", is_error=True)),
    ]
    verdict = judge.judge("find user 1", turns)
    assert (verdict.episode, verdict.steps) == (0.8, [1.0, 0.25])
    assert verdict.critique == "found the user, then stalled"
    prompt = fake_llm.requests[0]["messages"][0]["content"]
    assert "be fair" in prompt and "find user 1" in prompt and "[error]" in prompt
    # The judge's call is metered with its time.
    assert verdict.usage.calls == 1 and verdict.usage.input_tokens == 11
    assert verdict.usage.latency_s >= 0.05  # the server took that long to answer


def test_the_transcript_clips_long_answers_and_names_an_empty_episode(fake_llm: FakeLLM) -> None:
    fake_llm.default = Reply('{"steps": [], "episode": 0}')
    judge = make_reward(RewardConfig(name="rubric", rubric="r"), _provider(fake_llm))
    assert judge is not None
    long = Turn(action=Action(name="cat"), observation=Observation(content="x" * 5000))
    judge.judge("t", [long])
    judge.judge("t", [])
    first, empty = (r["messages"][0]["content"] for r in fake_llm.requests)
    assert "x" * 600 not in first and "characters …]" in first  # about 200 tokens kept
    assert "Transcript (0 steps; each an action and the environment's answer):\n(none)" in empty


def test_judge_answers_are_clamped_and_unreadable_ones_are_errors() -> None:
    verdict = parse_verdict('{"steps": [2, -1, "x"], "episode": 7}', 4)
    # A step the judge gave no number for has no reward (None), not a 0 it never gave; nor
    # has a step past the end of its list.
    assert verdict.steps == [1.0, 0.0, None, None] and verdict.episode == 1.0
    assert parse_verdict('{"steps": ["0.5", null, true], "episode": 1}', 3).steps == [
        0.5,
        None,
        None,
    ]
    # One reward per turn: a judge listing more scores than turns has them cut.
    assert parse_verdict('{"steps": [1, 0.5, 0.2], "episode": 1}', 1).steps == [1.0]
    # Success only when the judge says true or false; anything else is no verdict.
    assert parse_verdict('{"episode": 1, "success": "yes"}', 0).success is None
    assert parse_verdict('{"episode": 1, "success": false}', 0).success is False
    # No verdict is an error naming the answer; it was a reward of 0 the judge never gave.
    with pytest.raises(ProviderError, match="holds no JSON verdict: 'I think it went well'"):
        parse_verdict("I think it went well", 2)
    for answer in (
        '{"echo": {}}', '{"episode": "good", "steps": [1]}', '{"episode": true}',
        '{"episode": "nan"}', '{"episode": "inf"}', '{"episode": NaN}', '{"episode": "1_0"}',
    ):  # fmt: skip
        with pytest.raises(ProviderError) as refused:
            parse_verdict(answer, 2)
        assert f"has no episode score (a number in [0, 1]): {answer!r}" in str(refused.value)
    assert parse_verdict('{"episode": "0.5"}', 1).episode == 0.5


def test_an_unreadable_verdict_is_a_502_and_the_episode_can_be_scored_again(
    built_model: Path, fake_llm: FakeLLM
) -> None:
    """`POST .../score` answered 200 with a reward of 0.0 when the judge's answer held no
    verdict (only the critique said so)."""
    from fastapi.testclient import TestClient

    from wmh.config.schema import ServeConfig
    from wmh.serving.app import create_app
    from wmh.serving.registry import load_registry

    fake_llm.script = [Reply("I think it went well")]
    fake_llm.default = Reply('{"steps": [0.5], "episode": 0.75, "critique": "fine"}')
    judge = make_reward(RewardConfig(name="rubric", rubric="r"), _provider(fake_llm))
    registry = load_registry(built_model.parents[1], [], ServeConfig(), judge)
    with TestClient(create_app(registry)) as client:
        sid = client.post("/world_models/records/sessions", json={"task": "t"}).json()
        base = f"/world_models/records/sessions/{sid['session_id']}"
        action = {"action": {"name": "get_user", "arguments": {"user_id": 1}}}
        assert client.post(f"{base}/step", json=action).status_code == 200
        assert client.post(f"{base}/step", json=action).status_code == 200
        failed = client.post(f"{base}/score")
        again = client.post(f"{base}/score")
        ended = client.delete(base).json()
    assert failed.status_code == 502, failed.text
    # Both judge calls were made and billed: the session meters both (the failed one was lost).
    assert ended["by_phase"]["judge"]["calls"] == 2, ended
    assert ended["by_phase"]["judge"]["input_tokens"] == 2 * 11
    assert "holds no JSON verdict: 'I think it went well'" in failed.json()["detail"]
    assert (again.status_code, again.json()["reward"], again.json()["step_rewards"]) == (
        200,
        0.75,
        [0.5, None],  # the judge scored one step of two: the other has no reward (null)
    ), again.text


def test_a_verdict_followed_by_braced_text_is_read() -> None:
    verdict = parse_verdict('{"steps": [1], "episode": 0.8} -- note: {braces}', 1)
    assert verdict.episode == 0.8 and verdict.steps == [1.0]


def test_no_reward_and_a_rubric_without_an_llm() -> None:
    assert make_reward(RewardConfig(), ProviderConfig()) is None
    with pytest.raises(ConfigError, match="needs an LLM"):
        make_reward(RewardConfig(name="rubric"), ProviderConfig())
    with pytest.raises(ConfigError, match="none, rubric or success"):
        make_reward(RewardConfig(name="vibes"), ProviderConfig())

"""Reward judging through the local OpenAI-compatible test server."""

from __future__ import annotations

import json

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.core.types import Action, Observation, Turn
from wmh.errors import ConfigError
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


def test_judge_answers_are_clamped_and_unreadable_ones_score_zero() -> None:
    verdict = parse_verdict('{"steps": [2, -1, "x"], "episode": 7}', 4)
    assert verdict.steps == [1.0, 0.0, 0.0, 0.0] and verdict.episode == 1.0
    # One reward per turn: a judge listing more scores than turns has them cut.
    assert parse_verdict('{"steps": [1, 0.5, 0.2], "episode": 1}', 1).steps == [1.0]
    # Success only when the judge says true or false; anything else is no verdict.
    assert parse_verdict('{"episode": 1, "success": "yes"}', 0).success is None
    assert parse_verdict('{"episode": 1, "success": false}', 0).success is False
    broken = parse_verdict("I think it went well", 2)
    assert broken.episode == 0.0 and "unreadable" in broken.critique
    # JSON, but no verdict in it: the critique says so (it was empty).
    for answer in (
        '{"echo": {}}', '{"episode": "good", "steps": [1]}', '{"episode": true}',
        '{"episode": "nan"}', '{"episode": "inf"}', '{"episode": NaN}', '{"episode": "1_0"}',
    ):  # fmt: skip
        empty = parse_verdict(answer, 2)
        assert (empty.episode, empty.steps) == (0.0, [0.0, 0.0])
        assert empty.critique == f"judge answer has no episode score: {answer!r}"
    assert parse_verdict('{"episode": "0.5"}', 1).episode == 0.5


def test_a_verdict_followed_by_braced_text_is_read() -> None:
    verdict = parse_verdict('{"steps": [1], "episode": 0.8} -- note: {braces}', 1)
    assert verdict.episode == 0.8 and verdict.steps == [1.0]


def test_no_reward_and_a_rubric_without_an_llm() -> None:
    assert make_reward(RewardConfig(), ProviderConfig()) is None
    with pytest.raises(ConfigError, match="needs an LLM"):
        make_reward(RewardConfig(name="rubric"), ProviderConfig())
    with pytest.raises(ConfigError, match="none, rubric or success"):
        make_reward(RewardConfig(name="vibes"), ProviderConfig())

from __future__ import annotations

import pytest

from tests.fake_llm import Reply
from wmh.config.schema import JudgeConfig, ProviderConfig
from wmh.core.types import Observation
from wmh.scoring.factory import make_judge
from wmh.scoring.rubric import parse_grade


def _judge(fake, **provider):  # noqa: ANN001, ANN202
    config = ProviderConfig(
        name="openai_compatible",
        model="openai/grader",
        api_base=fake.api_base,
        num_retries=0,
        timeout=5,
        **provider,
    )
    return make_judge("rubric", JudgeConfig(name="rubric", rubric="Same status counts."), config)


def test_rubric_judge_grades_through_a_local_openai_compatible_server(fake_llm) -> None:
    fake_llm.script = [Reply('{"score": 0.75, "feedback": "status matches, total differs"}')]
    verdict = _judge(fake_llm).judge(
        Observation(content='{"status": "ok", "total": 3}'),
        Observation(content='{"status": "ok", "total": 4}'),
    )
    assert verdict.score == 0.75 and verdict.feedback == "status matches, total differs"
    (request,) = fake_llm.requests
    assert request["model"] == "grader"
    prompt = request["messages"][1]["content"]
    assert "Same status counts." in prompt and '"total": 4' in prompt and '"total": 3' in prompt


def test_malformed_grades_and_server_errors_score_zero_with_a_reason(fake_llm) -> None:
    fake_llm.script = [Reply("I think it is fine"), Reply(status=500)]
    judge = _judge(fake_llm)
    no_number = judge.judge(Observation(content="a"), Observation(content="b"))
    assert no_number.score == 0.0 and "no score" in no_number.feedback
    failed = judge.judge(Observation(content="a"), Observation(content="b"))
    assert failed.score == 0.0 and "openai/grader" in failed.feedback


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"score": 1, "feedback": "same"}', 1.0),
        ('```json\n{"score": 0.4}\n```', 0.4),
        ("score: 0.5", 0.5),
        ('{"score": 7}', 1.0),
        ('{"score": 0.8} -- note: {braces}', 0.8),
    ],
)
def test_grades_are_parsed_tolerantly_and_clamped(text: str, score: float) -> None:
    assert parse_grade(text).score == score

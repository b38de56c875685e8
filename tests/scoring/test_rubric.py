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
        ('{"score": -0.5}', 0.0),
        ('{"score": 0.8} -- note: {braces}', 0.8),
        ("I give it 10 out of 10, so 0.9", 0.9),  # 10 is no grade in [0, 1], nor its 1
        ("about 0.75.", 0.75),
    ],
)
def test_grades_are_parsed_tolerantly_and_clamped(text: str, score: float) -> None:
    assert parse_grade(text).score == score


def test_a_grade_out_of_ten_alone_is_no_grade() -> None:
    with pytest.raises(ValueError, match="no score in the judge's answer"):
        parse_grade("10 out of 10")


def test_the_first_reason_a_judge_gave_no_grade_is_kept_and_an_empty_rubric_is_the_default(
    fake_llm,
) -> None:
    from wmh.scoring.rubric import DEFAULT_RUBRIC

    fake_llm.script = [Reply("no idea"), Reply("still nothing")]
    judge = make_judge("rubric", JudgeConfig(name="rubric", rubric="  "), ProviderConfig(
        name="openai_compatible", model="openai/grader", api_base=fake_llm.api_base,
        num_retries=0, timeout=5,
    ))  # fmt: skip
    for _ in range(2):
        judge.judge(Observation(content="a"), Observation(content="b"))
    assert (judge.judged, judge.ungraded) == (2, 2)
    assert (
        judge.first_failure
        == "rubric judge gave no grade: no score in the judge's answer: 'no idea'"
    )
    assert f"Rubric:\n{DEFAULT_RUBRIC}\n" in fake_llm.requests[0]["messages"][1]["content"]


@pytest.mark.parametrize(
    "answer",
    ['{"score": "inf"}', '{"score": "1_0"}', '{"score": true}', '{"score": "NaN"}',
     '{"score": 1' + "0" * 400 + "}"],  # past a float's range: it raised OverflowError
)  # fmt: skip
def test_a_grade_that_is_no_number_is_no_grade(answer: str) -> None:
    """Full marks for "inf", "1_0" or true, and a real 0 for "NaN", as the rubric reward's
    parser already refuses them: each is an ungraded judgement."""
    with pytest.raises(ValueError, match="no score"):
        parse_grade(answer)

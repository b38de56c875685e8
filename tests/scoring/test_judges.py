from __future__ import annotations

import pytest

from wmh.core.types import Observation
from wmh.errors import ConfigError
from wmh.scoring.factory import make_judge
from wmh.scoring.judges import ExactJudge, NumericJudge, StructuralJudge, token_f1


def obs(content: str, is_error: bool = False) -> Observation:
    return Observation(content=content, is_error=is_error)


def test_reordered_json_keys_and_whitespace_are_a_full_match() -> None:
    verdict = StructuralJudge().judge(
        obs('{"b": [1, 2], "a": {"x": "y"}}'), obs('{\n  "a": {"x": "y"},\n  "b": [1, 2]\n}')
    )
    assert verdict.score == 1.0 and verdict.feedback == "match"


def test_numbers_as_strings_equal_numbers_but_booleans_do_not() -> None:
    judge = StructuralJudge()
    assert judge.judge(obs('{"total": "12.50"}'), obs('{"total": 12.5}')).score == 1.0
    assert judge.judge(obs('{"ok": "true"}'), obs('{"ok": true}')).score < 1.0
    # A boolean is no number: true is not 1, nor false 0 (one leaf of one wrong: the flag's 0.2).
    assert judge.judge(obs('{"ok": 1}'), obs('{"ok": true}')).score == 0.2
    assert judge.judge(obs('{"ok": false}'), obs('{"ok": "0"}')).score == 0.2


def test_json_mismatch_names_the_field_and_scores_partially() -> None:
    verdict = StructuralJudge().judge(
        obs('{"id": 3, "status": "open"}'), obs('{"id": 3, "status": "closed"}')
    )
    assert 0.5 < verdict.score < 1.0
    assert "field status: got 'open', expected 'closed'" in verdict.feedback


def test_text_expected_json_predicted_is_penalised() -> None:
    verdict = StructuralJudge().judge(obs("user 3 not found"), obs('{"id": 3}'))
    assert "expected JSON" in verdict.feedback
    # Text for JSON scores half its token F1: "3" of 4 tokens against {, ", id, ", :, 3, }.
    f1 = 2 * (1 / 4) * (1 / 7) / (1 / 4 + 1 / 7)
    assert verdict.score == pytest.approx(0.8 * 0.5 * f1 + 0.2, abs=1e-6)


def test_empty_output_versus_an_error_counts_the_flag() -> None:
    judge = StructuralJudge()
    both_empty = judge.judge(obs(""), obs(""))
    assert both_empty.score == 1.0
    wrong_flag = judge.judge(obs("", is_error=False), obs("Error: no such file", is_error=True))
    assert wrong_flag.score == 0.0
    assert "error flag" in wrong_flag.feedback
    right_flag_wrong_text = judge.judge(obs("Error: boom", True), obs("Error: no such file", True))
    assert 0.2 < right_flag_wrong_text.score < 1.0


def test_exit_codes_in_text_count_as_tokens() -> None:
    same = token_f1("a.txt\n[exit code 0]", "a.txt\n[exit code 0]")
    other = token_f1("a.txt\n[exit code 1]", "a.txt\n[exit code 0]")
    assert same == 1.0 and other < 1.0


def test_exact_judge_ignores_only_surrounding_whitespace() -> None:
    assert ExactJudge().judge(obs(" ok\n"), obs("ok")).score == 1.0
    assert ExactJudge().judge(obs("ok"), obs("OK")).score == 0.0
    assert ExactJudge().judge(obs("ok", True), obs("ok")).score == 0.0


def test_numeric_judge_compares_numbers_with_tolerance() -> None:
    judge = NumericJudge()
    assert judge.judge(obs("total: 12.5000001 EUR"), obs("12.5 eur")).score == 1.0
    # a number outside the tolerance, and the error flag, each count
    assert judge.judge(obs("total: 12.5001 EUR"), obs("12.5 eur")).score == 0.2
    assert judge.judge(obs("total: 12.5 EUR", True), obs("12.5 eur")).score == 0.8
    assert judge.judge(obs("total 13"), obs("total 12")).score == pytest.approx(0.2)


def test_unknown_judge_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown judge"):
        make_judge("vibes")


def test_numbers_must_agree_closely_and_in_order() -> None:
    structural = StructuralJudge()
    assert structural.judge(obs('{"x": 1.0}'), obs('{"x": 1.0000000001}')).score == 1.0
    assert structural.judge(obs('{"x": 1.001}'), obs('{"x": 1.0}')).score == 0.2
    # The numeric judge compares the numbers where they stand: 3 then 5 is not 5 then 3.
    assert NumericJudge().judge(obs("3 then 5"), obs("5 then 3")).score == 0.2
    assert NumericJudge().judge(obs("took 5 then 3"), obs("5, 3")).score == 1.0


def test_numbers_the_prediction_adds_cost_the_numeric_judge_too() -> None:
    # 3 of the 5 numbers match: extra predicted numbers are not free (it scored 3 of 3).
    verdict = NumericJudge().judge(Observation(content="1 2 3 7 8"), Observation(content="1 2 3"))
    assert verdict.score == pytest.approx(0.8 * 3 / 5 + 0.2)


def test_text_that_differs_says_so_and_empty_json_matches_empty_json() -> None:
    judge = StructuralJudge()
    text = judge.judge(Observation(content="a b"), Observation(content="a c"))
    assert text.score == pytest.approx(0.8 * 0.5 + 0.2)
    # GEPA's reflection reads this: a partial text match is never called a match.
    assert text.feedback == "text token F1 0.50; expected: 'a c'"
    assert judge.judge(Observation(content="{}"), Observation(content="{}")).score == 1.0
    assert judge.judge(Observation(content="[]"), Observation(content="{}")).score == 1.0


def test_json_feedback_lists_three_misses_and_strings_match_through_their_spaces() -> None:
    judge = StructuralJudge()
    predicted = '{"a": 1, "b": 2, "c": 3, "d": 4, "e": " ok "}'
    expected = '{"a": 9, "b": 9, "c": 9, "d": 9, "e": "ok"}'
    verdict = judge.judge(Observation(content=predicted), Observation(content=expected))
    assert verdict.score == pytest.approx(0.8 * 1 / 5 + 0.2)  # "e" matches, spaces aside
    assert verdict.feedback == (
        "field a: got 1, expected 9; field b: got 2, expected 9; field c: got 3, expected 9"
    )

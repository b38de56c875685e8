from __future__ import annotations

import json

from wmh.engine.adapt import adapt_observation, substitutions


def test_json_values_equal_to_the_old_argument_are_replaced_with_the_new_type() -> None:
    content = '{"user_id": 3, "name": "user3", "note": "user 3 is active", "score": 3.5}'
    adapted, count = adapt_observation(content, {"user_id": 3}, {"user_id": 41})
    assert json.loads(adapted) == {
        "user_id": 41,
        "name": "user3",
        "note": "user 3 is active",
        "score": 3.5,
    }
    assert count == 1
    assert adapted.startswith('{"user_id": 41, ')  # keeps the original separators


def test_text_substitution_is_whole_token_and_simultaneous() -> None:
    content = "Reservation AB12 for Paris; AB123 unaffected; Paris to Lima"
    adapted, count = adapt_observation(
        content, {"id": "AB12", "city": "Paris"}, {"id": "ZZ99", "city": "Lima"}
    )
    assert adapted == "Reservation ZZ99 for Lima; AB123 unaffected; Lima to Lima"
    assert count == 3


def test_command_arguments_swap_the_tokens_that_differ() -> None:
    pairs = substitutions({"command": "cat notes.txt"}, {"command": "cat todo.txt"})
    assert ("notes.txt", "todo.txt") in pairs
    adapted, _ = adapt_observation(
        "cat: notes.txt: No such file or directory",
        {"command": "cat notes.txt"},
        {"command": "cat todo.txt"},
    )
    assert adapted == "cat: todo.txt: No such file or directory"


def test_nothing_changes_when_arguments_are_equal_or_booleans() -> None:
    assert adapt_observation("ok true", {"flag": True}, {"flag": False}) == ("ok true", 0)
    assert adapt_observation("x 5", {"n": 5}, {"n": 5}) == ("x 5", 0)

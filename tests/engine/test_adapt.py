from __future__ import annotations

import json

from wmh.engine.adapt import adapt_observation, argument_leaves, substitutions


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
    # Two values trading places: each occurrence is swapped once, not swapped back.
    swapped, count = adapt_observation(
        "flight from Paris to Lima",
        {"from": "Paris", "to": "Lima"},
        {"from": "Lima", "to": "Paris"},
    )
    assert (swapped, count) == ("flight from Lima to Paris", 2)


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


def test_values_inside_code_and_quoted_arguments_are_swapped_word_by_word() -> None:
    old = {"code": 'print(tools["Calendar__search_events"](query="Yoga"))'}
    new = {"code": 'print(tools["Calendar__search_events"](query="Lunch"))'}
    adapted, count = adapt_observation("[Event(title='Yoga Class', id='e1')]", old, new)
    assert adapted == "[Event(title='Lunch Class', id='e1')]" and count == 1
    # A path among shell words: the whole path is one word, marks are never swapped.
    old = {"command": "cd /repo && grep -n 'def run' src/app/main.py"}
    new = {"command": "cd /repo && grep -n 'def run' src/app/cli.py"}
    adapted, _ = adapt_observation("src/app/main.py:12:def run(self):", old, new)
    assert adapted == "src/app/cli.py:12:def run(self):"


def test_a_long_call_that_differs_in_one_place_aligns_that_place() -> None:
    """Only the part between the common head and tail is aligned: a script of a hundred lines
    that differs in one value still swaps that value, and nothing else."""
    body = "\n".join(f"step_{i} = run({i})" for i in range(100))
    old = {"code": f"{body}\nprint(lookup('alpha-7'))\n{body}"}
    new = {"code": f"{body}\nprint(lookup('beta-9'))\n{body}"}
    whole, *tokens = substitutions(old, new, "alpha-7 found")
    assert whole == (old["code"], new["code"]) and tokens == [("alpha-7", "beta-9")]
    adapted, count = adapt_observation("alpha-7 found (run 5)", old, new)
    assert adapted == "beta-9 found (run 5)" and count == 1


def test_a_word_is_never_swapped_for_a_mark() -> None:
    assert adapt_observation("ab done", {"code": "f(ab)"}, {"code": "f(-)"}) == ("ab done", 0)


def test_leaves_are_in_document_order_and_a_repeated_path_keeps_its_first_place() -> None:
    """`{"a.b": 1, "a": {"b": 2}}` names one path twice: the leaf stays where it first
    appeared, with the last value (what the judge and the signatures compare)."""
    value = {"z": [1, {"y": None}], "a.b": 1, "m": [], "a": {"b": 2, "c": {}}, "k": "v"}
    assert list(argument_leaves(value).items()) == [
        ("z[0]", 1),
        ("z[1].y", None),
        ("a.b", 2),
        ("k", "v"),
    ]
    assert argument_leaves([[3]], "p") == {"p[0][0]": 3}
    assert argument_leaves(7) == {"": 7}


def test_booleans_are_never_swapped_even_where_the_answer_spells_them() -> None:
    """A flag's True in the answer may be any field's: a call asking notify=False does not turn
    every True of its neighbour's answer into False."""
    content = "saved; notify=True; active=True"
    assert adapt_observation(content, {"notify": True}, {"notify": False}) == (content, 0)
    assert adapt_observation(content, {"notify": "True"}, {"notify": True}) == (content, 0)


def test_a_value_inside_a_version_a_decimal_or_a_hyphenated_name_is_not_swapped() -> None:
    """Only whole tokens are swapped: order 12 becomes 41, but not the 12 of `v2.12`, of
    `lot-12` or of `12-b`."""
    adapted, count = adapt_observation(
        "order 12 of lot-12 and 12-b, built by v2.12", {"order": "12"}, {"order": "41"}
    )
    assert (adapted, count) == ("order 41 of lot-12 and 12-b, built by v2.12", 1)


def test_a_json_number_of_another_type_equal_to_the_old_value_is_kept() -> None:
    """User 3's answer with a balance of 3.0, adapted to user 41: the id changes, the balance
    (a float equal to 3) does not."""
    adapted, count = adapt_observation(
        '{"user_id": 3, "balance": 3.0}', {"user_id": 3}, {"user_id": 41}
    )
    assert json.loads(adapted) == {"user_id": 41, "balance": 3.0} and count == 1


def test_an_answer_with_nothing_to_swap_is_returned_as_it_was_written() -> None:
    """The old value occurs only inside a longer token: nothing is swapped and the answer keeps
    its own text (not re-serialised: its escapes and spacing stay)."""
    content = '{"name": "Ren\\u00e9","ref": "ref-AB12"}'
    assert adapt_observation(content, {"id": "AB12"}, {"id": "ZZ99"}) == (content, 0)


def test_an_adapted_json_answer_keeps_its_indentation_and_separators() -> None:
    pretty = '{\n    "user_id": 3,\n    "tags": [\n        "a"\n    ]\n}'
    adapted, _ = adapt_observation(pretty, {"user_id": 3}, {"user_id": 41})
    assert adapted == '{\n    "user_id": 41,\n    "tags": [\n        "a"\n    ]\n}'
    listed = '{"ids":[1, 2],"user_id":3}'
    adapted, _ = adapt_observation(listed, {"user_id": 3}, {"user_id": 41})
    assert adapted == '{"ids": [1, 2], "user_id": 41}'


def test_a_recorded_call_adapted_twice_takes_each_new_calls_values() -> None:
    """The recorded side's tokens are kept between calls: the new side's never are."""
    recorded = {"command": "cd /repo && python -c \"print(lookup('alpha-7'))\""}
    answer = "alpha-7 found in /repo"
    first = {"command": "cd /repo && python -c \"print(lookup('beta-2'))\""}
    second = {"command": "cd /repo && python -c \"print(lookup('gamma-9'))\""}
    assert adapt_observation(answer, recorded, first) == ("beta-2 found in /repo", 1)
    assert adapt_observation(answer, recorded, second) == ("gamma-9 found in /repo", 1)
    assert adapt_observation(answer, recorded, recorded) == (answer, 0)
    # The same recorded call with another answer: its own tokens are looked for in it.
    assert adapt_observation("no match here", recorded, first) == ("no match here", 0)

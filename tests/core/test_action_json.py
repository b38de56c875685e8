"""The JSON action grammar, strict (an environment's input) and lenient (an LLM agent's answer)."""

from __future__ import annotations

import pytest

from wmh.core.action_json import ActionSyntaxError, parse_action_json
from wmh.core.types import ActionKind


def test_both_leniencies_read_the_grammar_alike() -> None:
    for lenient in (False, True):
        call = parse_action_json('{"tool": "t", "arguments": {"a": 1}}', lenient=lenient)
        assert call is not None and (call.name, call.arguments) == ("t", {"a": 1})
        said = parse_action_json('{"message": "hi"}', lenient=lenient)
        assert said is not None and said.kind is ActionKind.MESSAGE and said.content == "hi"
        assert parse_action_json('{"done": true}', lenient=lenient) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "must be a JSON object"),
        ('{"tool": "t", "arguments": [1]}', "'arguments' must be a JSON object"),
        ('{"other": 1}', "expected"),
    ],
)
def test_strict_parsing_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ActionSyntaxError, match=reason):
        parse_action_json(text)


def test_lenient_parsing_makes_a_message_of_anything_else() -> None:
    chat = parse_action_json("I will look it up", lenient=True)
    assert (
        chat is not None and chat.kind is ActionKind.MESSAGE and chat.content == "I will look it up"
    )
    empty = parse_action_json('{"other": 1}', lenient=True)
    assert empty is not None and empty.content == "ok"
    found = parse_action_json('Sure: {"tool": "t"} -- {braces}', lenient=True)
    assert found is not None and found.name == "t" and found.arguments == {}

from __future__ import annotations

import pytest

from wmh.core.json_text import extract_json_object, without_spaces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 0.8}', {"score": 0.8}),
        # text after the object, with braces of its own (a greedy regex fails here)
        ('{"score": 0.8} -- note: {braces}', {"score": 0.8}),
        # text before and after, nested objects
        (
            'Sure: {"tool": "a", "arguments": {"q": {"x": 1}}} hope that helps',
            {"tool": "a", "arguments": {"q": {"x": 1}}},
        ),
        # braces and escaped quotes inside strings do not count
        (
            '{"feedback": "a } and a { inside", "score": 1}',
            {"feedback": "a } and a { inside", "score": 1},
        ),
        ('{"quote": "say \\"}\\" twice", "n": 2}', {"quote": 'say "}" twice', "n": 2}),
        # the first object that parses wins
        ('{not json} then {"score": 0.5} and {"score": 0.9}', {"score": 0.5}),
        ('```json\n{"a": [1, {"b": 2}]}\n```', {"a": [1, {"b": 2}]}),
    ],
)
def test_the_first_json_object_is_found_in_text(text: str, expected: object) -> None:
    assert extract_json_object(text) == expected


@pytest.mark.parametrize(
    "text", ["", "no object here", "[1, 2, 3]", "{unclosed", "{'single': 'quotes'}", "}{"]
)
def test_text_without_a_json_object_gives_none(text: str) -> None:
    assert extract_json_object(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{ "a" : [1, 2],\n\t"b": "x  y" }', '{"a":[1,2],"b":"x  y"}'),
        ('{"q": "say \\"hi  there\\" ", "n" :\u00a01}', '{"q":"say \\"hi  there\\" ","n":1}'),
        ('{"path": "C:\\\\ dir\\\\"  , "x": 1}', '{"path":"C:\\\\ dir\\\\","x":1}'),
        ('{"note": "cut short  here', '{"note":"cut short  here'),  # an unclosed string
        ('{"note": "ends on an escape \\', '{"note":"ends on an escape \\'),
        ('{"a": "one"} {"b" :\n "two  2"', '{"a":"one"}{"b":"two  2"'),
    ],
)
def test_without_spaces_drops_white_space_between_tokens_only(text: str, expected: str) -> None:
    assert without_spaces(text) == expected

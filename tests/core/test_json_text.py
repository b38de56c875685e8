from __future__ import annotations

import pytest

from wmh.core.json_text import begins_json, extract_json_object


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


VALUE = {"url": "https://example.com/a", "temperature": 0.5, "limit": 1000, "ok": True,
         "note": "après six \U0001F600 end", "tags": ["a", "b"]}  # fmt: skip
WRITTEN = (
    '{"url": "https:\\/\\/example.com\\/a", "temperature": 0.50, "limit": 1e3, "ok": true,\n'
    ' "note": "apr\\u00e8s six \\ud83d\\ude00 end", "tags": ["a", "b"]}'
)


@pytest.mark.parametrize("cut", [20, 40, 62, 75, 80, 95, 104, 108, 110, 114, 120, 128, 140])
def test_json_text_written_otherwise_and_cut_short_begins_its_value(cut: int) -> None:
    """Escaped slashes, \\u escapes (a surrogate pair cut in half too), 0.50 and 1e3 against
    what orjson writes: the same tokens."""
    assert begins_json(WRITTEN[:cut], VALUE), WRITTEN[:cut]


@pytest.mark.parametrize(
    "text",
    [
        '{"url": "https://example.org',  # another value
        '{"temperature": 0.5',  # another key first
        '{"url": "https://example.com/a", "temperature": 0.6',  # another number, complete
        '{"url": "https://example.com/a", "temperature": 0.5, "limit": 1000, "ok": fa',
        '{"url": "https://example.com/a"}',  # complete, and shorter: not a cut of it
        '[{"url": "',
        '{"url": @',
        WRITTEN,  # the whole of it is not cut short
    ],
)
def test_json_text_of_another_value_does_not_begin_it(text: str) -> None:
    assert not begins_json(text, VALUE)


@pytest.mark.parametrize(
    "text", ['{"x": 1e', '{"x": 1e+', '{"x": 1e+2', '{"y": -1.', '{"y": -1.25e-']
)
def test_a_number_the_cut_ended_in_its_exponent_or_fraction_begins_its_value(text: str) -> None:
    value = {"x": 1e21, "y": -1.25e-07} if text.startswith('{"x"') else {"y": -1.25e-07}
    assert begins_json(text, value)
    assert not begins_json(text, {"x": 2e21, "y": -2.5e-07})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"limit": 1e', {"limit": 1000.0, "x": 1}),
        ('{"rate": 0.000', {"rate": 1e-05, "x": 1}),
        ('{"t": 1.5', {"t": 1500.0, "x": 1}),
        ('{"t": 2E-', {"t": 0.002, "x": 1}),
        ('{"big": 1000', {"big": 1e16, "x": 1}),
        ('{"p": 100.00', {"p": 100.0, "x": 1}),
        # an integer past 64 bits, which orjson reads as a float, whole and then cut
        (
            '{"n": 123456789012345678901234567890, "m": 12345678901234',
            {"n": 1.2345678901234568e29, "m": 1.2345678901234568e29},
        ),
    ],
)
def test_a_number_cut_short_begins_its_value_however_it_was_written(text: str, value: dict) -> None:
    assert begins_json(text, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": \u0663, ', {"a": 3, "b": 1}),  # a digit of another script
        ('{"a": 007, ', {"a": 7, "b": 1}),  # leading zeros
        ('{"a":\xa01, ', {"a": 1, "b": 1}),  # a no-break space
        ('{"y": 1234567890123', {"y": 1e21}),  # the digits of another number
        ('{"y": 123', {"y": 0}),
        ('{"y": -1', {"y": 1}),
        ('{"y": nul', {"y": True}),
    ],
)
def test_text_that_is_not_json_or_of_another_number_does_not_begin_it(
    text: str, value: dict
) -> None:
    assert not begins_json(text, value)

"""Find the JSON object in a model's free text ("Sure: {...} hope that helps").

A greedy `\\{.*\\}` spans from the first brace to the last, so `{"score": 0.8} -- note: {x}` does
not parse; a balanced scan that skips braces inside JSON strings finds the object itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any


def json_chars(text: str, start: int = 0) -> Iterator[tuple[int, str, bool]]:
    """Each character of JSON text from `start`: its index, itself, and whether it belongs to
    a double-quoted string (its quotes included; backslash escapes followed)."""
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            yield i, char, True
        else:
            in_string = char == '"'
            yield i, char, in_string


# A double-quoted string (backslash escapes followed; the last may be cut short, unclosed), or
# a run of white space outside one.
_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*(?:"|\\?\Z))|\s+', re.DOTALL)


def without_spaces(text: str) -> str:
    """JSON text without the white space between its tokens (that inside strings is kept)."""
    return _STRING_OR_SPACE.sub(lambda m: m.group(1) or "", text)


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the brace that closes the one at `start`, or None when none does.

    Braces inside double-quoted strings (with backslash escapes) do not count."""
    depth = 0
    for i, char, quoted in json_chars(text, start):
        if quoted:
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced `{...}` in `text` that parses as a JSON object, or None."""
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start)
        if end is not None:
            try:
                value = json.loads(text[start:end])
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None


def is_finite_number(value: object) -> bool:
    """A finite number, or text that is one ("0.7"; not "nan", "inf", "1_0" or true): a judge's
    score that is anything else is no score."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    if isinstance(value, str) and not re.fullmatch(
        r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value
    ):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer past a float's range
        return False

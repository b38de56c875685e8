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


# One JSON token after optional white space: a string (closed), a number, a literal or a mark.
# (JSON's own white space and digits: `\s` and `\d` take any script's.)
_JSON_TOKEN = re.compile(
    r'[ \t\n\r]*(?:("(?:[^"\\]|\\.)*")|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)'
    r"|(true|false|null)|([{}\[\],:]))"
)
_NUMBER_CUT = re.compile(r"[.eE][eE+\-]?\Z")  # a number's part the cut left without digits
_NUMBER_START = re.compile(r"-?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?\Z")  # a number cut short
_LITERALS = ("true", "false", "null")
_CUT_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")  # an escape the cut left unfinished
Token = tuple[str, Any]


def _value_tokens(value: Any, out: list[Token]) -> None:
    """The tokens of a JSON value, in order: ("s", text), ("n", number), ("l", literal), or a
    mark (its character, None)."""
    if isinstance(value, dict):
        out.append(("{", None))
        for at, (key, item) in enumerate(value.items()):
            if at:
                out.append((",", None))
            out += [("s", str(key)), (":", None)]
            _value_tokens(item, out)
        out.append(("}", None))
    elif isinstance(value, list):
        out.append(("[", None))
        for at, item in enumerate(value):
            if at:
                out.append((",", None))
            _value_tokens(item, out)
        out.append(("]", None))
    elif isinstance(value, str):
        out.append(("s", value))
    elif isinstance(value, bool) or value is None:
        out.append(("l", json.dumps(value)))
    else:
        out.append(("n", value))


def _text_tokens(text: str) -> tuple[list[Token], Token | None]:
    """The complete tokens of JSON text cut short, and the last one the cut left partial ("s"
    with the string's decoded start, "n" or "l" with the characters there are; None when the
    text ends after a complete token). None for the whole when the text is not JSON's tokens."""
    tokens: list[Token] = []
    at = 0
    number_at = -1  # where the last token, a number, began (-1: it is not one)
    while True:
        found = _JSON_TOKEN.match(text, at)
        if found is None:
            break
        string, number, literal, mark = found.groups()
        number_at = found.start(2) if number is not None else -1
        if found.end() == len(text) and number is not None:
            return tokens, ("n", number)  # (a number at the cut may be missing digits)
        if string is not None:
            tokens.append(("s", json.loads(string)))
        elif number is not None:
            tokens.append(("n", float(number) if any(c in number for c in ".eE") else int(number)))
        elif literal is not None:
            tokens.append(("l", literal))
        else:
            tokens.append((mark, None))
        at = found.end()
    if number_at >= 0 and _NUMBER_CUT.match(text, at):  # ("1e", "-1.": the cut ends a number)
        tokens.pop()
        return tokens, ("n", text[number_at:])
    rest = text[at:].lstrip(" \t\n\r")
    if not rest:
        return tokens, None
    if rest[0] == '"':
        start = _CUT_ESCAPE.sub("", rest[1:])
        if start.endswith("\\") and (len(start) - len(start.rstrip("\\"))) % 2:
            start = start[:-1]
        decoded = json.loads(f'"{start}"')
        if decoded and "\ud800" <= decoded[-1] <= "\udbff":  # half of a pair the cut split
            decoded = decoded[:-1]
        return tokens, ("s", decoded)
    if _NUMBER_START.match(rest):
        return tokens, ("n", rest)
    if any(literal.startswith(rest) for literal in _LITERALS):
        return tokens, ("l", rest)
    raise ValueError("not JSON")


def begins_json(text: str, value: Any) -> bool:
    """Whether `text` is JSON text of `value` cut short: token by token, strings by what they
    say (escapes written either way) and numbers by their value (`0.50` and `0.5`, `1e3` and
    `1000`), white space aside; the token at the cut compared as far as it goes."""
    try:
        cut, last = _text_tokens(text)
    except ValueError:
        return False
    whole: list[Token] = []
    _value_tokens(value, whole)
    if len(cut) + (last is not None) > len(whole):
        return False
    if not all(map(_same_token, cut, whole)):
        return False
    if last is None:
        return len(cut) < len(whole)
    kind, start = last
    at_cut = whole[len(cut)]
    if kind == "s":
        return at_cut[0] == "s" and at_cut[1].startswith(start)
    if kind == "l":
        return at_cut[0] == "l" and at_cut[1].startswith(start)
    return at_cut[0] == "n" and _number_begins(start, at_cut[1])


def _same_token(mine: Token, theirs: Token) -> bool:
    """Equal tokens; numbers equal as floats too (orjson reads an integer past 64 bits as one)."""
    if mine == theirs:
        return True
    if mine[0] != "n" or theirs[0] != "n":
        return False
    try:
        return float(mine[1]) == float(theirs[1])
    except OverflowError:
        return False


# Significant digits compared of a number cut short (a float's repr rounds past 15 or so).
NUMBER_DIGITS = 15


def _number_begins(start: str, value: Any) -> bool:
    """Whether the start of a number a cut left can be `value` written some way: its sign,
    and its significant digits so far the start of the value's (leading and trailing zeros
    aside: `1e` of 1000, `0.000` of 0.00001, `1.5` of 1500.0, `1000` of 1e16)."""
    if start.startswith("-") != (value < 0) and value != 0:
        return False
    mantissa = re.split(r"[eE]", start.lstrip("-"), maxsplit=1)[0]
    digits = mantissa.replace(".", "").strip("0")
    if isinstance(value, int) and not isinstance(value, bool):
        known = str(abs(value)).strip("0")
    else:
        known = repr(abs(float(value))).split("e")[0].replace(".", "").strip("0")
        digits, known = digits[:NUMBER_DIGITS], known[:NUMBER_DIGITS]
    return known.startswith(digits)


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

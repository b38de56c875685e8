"""Canonical JSON is the standard encoder's text, whichever encoder writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wmh.core.canonical import canonical_json


def _standard(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


VALUES: list[Any] = [
    {"b": 1, "a": [True, False, None, "x"], "é": {"z": "", "y": -(1 << 63)}},
    {"text": "".join(chr(c) for c in range(0, 0x800)) + "\u2028\u2029\ufeff\U0001f600"},
    {chr(c): c for c in range(0, 0x3000, 13)} | {"\U0001f600": 1, "\uffff": 2, "a\x00": 3},
    {"big": 1 << 63, "small": (1 << 63) - 1, "negative": -(1 << 64)},
    {"floats": [0.1, 1e-05, 1e16, 1e22, 100.0, -0.0, 5e-324, 1.7976931348623157e308]},
    {"nan": float("nan"), "inf": float("inf")},
    {2: "int keys", 1: "are written as strings"},
    {"tuple": (1, 2), "set": {3}},
    {"lone": "\ud800"},
    [[[["deep"]]]],
    "plain",
    7,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_canonical_json_is_the_standard_encoders_text(value: Any) -> None:
    assert canonical_json(value) == _standard(value)


def test_deeper_than_orjson_nests_is_written_too() -> None:
    value: Any = "x"
    for _ in range(300):  # orjson stops at 255 levels
        value = [value]
    assert canonical_json(value) == _standard(value)

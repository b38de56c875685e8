"""Canonical JSON and stable hashing: one value, one text and one hash on every machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

_INT_LIMIT = 1 << 63


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (non-ASCII kept as is): the
    standard encoder's text. A value of strings, booleans, None, 64-bit integers, lists and
    string-keyed objects only is written by orjson, whose text for those is the same and made
    in a third of the time (every recorded call's replay key is one); floats (their exponents
    are written otherwise), other keys and types, and lone surrogates take the standard one."""
    try:
        if _plain(value):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONEncodeError, RecursionError):
        pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_INT_LIMIT <= value < _INT_LIMIT
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def stable_unit_interval(text: str, salt: str = "") -> float:
    """Map text to [0, 1) through SHA-256, independent of the process (unlike `hash`)."""
    digest = hashlib.sha256(f"{salt}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def short_hash(text: str, length: int = 12) -> str:
    """A short hex digest for ids and file names."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]

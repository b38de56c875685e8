"""Canonical JSON and stable hashing: one value, one text and one hash on every machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (non-ASCII kept as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def stable_unit_interval(text: str, salt: str = "") -> float:
    """Map text to [0, 1) through SHA-256, independent of the process (unlike `hash`)."""
    digest = hashlib.sha256(f"{salt}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def short_hash(text: str, length: int = 12) -> str:
    """A short hex digest for ids and file names."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]

"""Observation judges grade a predicted observation against the recorded one: a score in [0, 1]
and feedback.

The feedback is short and concrete ("field status: got 'open', expected 'closed'") because GEPA's
reflection reads it to improve the prompt.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from wmh.core.types import Observation
from wmh.engine.adapt import argument_leaves

FLAG_WEIGHT = 0.2
_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    feedback: str


class Judge(Protocol):
    name: str

    def judge(self, predicted: Observation, expected: Observation) -> Verdict: ...


def _with_flag(
    content_score: float, feedback: list[str], predicted: Observation, expected: Observation
) -> Verdict:
    flag_ok = predicted.is_error == expected.is_error
    if not flag_ok:
        feedback.insert(
            0, f"error flag: got is_error={predicted.is_error}, expected {expected.is_error}"
        )
    score = (1 - FLAG_WEIGHT) * content_score + FLAG_WEIGHT * (1.0 if flag_ok else 0.0)
    return Verdict(round(score, 6), "; ".join(feedback) if feedback else "match")


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return None


def _same_leaf(a: Any, b: Any) -> bool:
    if a == b and type(a) is type(b):
        return True
    numbers = []
    for value in (a, b):
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            numbers.append(float(value))
        elif isinstance(value, str):
            try:
                numbers.append(float(value.strip()))
            except ValueError:
                return isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip()
        else:
            return False
    return math.isclose(numbers[0], numbers[1], rel_tol=1e-9, abs_tol=1e-12)


# A fit or an evaluation judges many guesses against one recorded answer, and the same guess
# against several: each text is parsed (or split into tokens) once while it is in use. What is
# returned is shared: read it, never change it.
@lru_cache(maxsize=256)
def _leaves(text: str) -> dict[str, Any] | None:
    """The JSON leaves of a text that is a JSON object or array, else None."""
    parsed = _parse_json(text)
    return None if parsed is None else argument_leaves(parsed)


@lru_cache(maxsize=256)
def _token_counts(text: str) -> tuple[Counter[str], int]:
    """The lower-cased word and punctuation tokens of a text, counted, and how many."""
    tokens = _TOKEN.findall(text.lower())
    return Counter(tokens), len(tokens)


def token_f1(predicted: str, expected: str) -> float:
    """Bag-of-tokens F1 over lower-cased word and punctuation tokens."""
    p, p_count = _token_counts(predicted)
    e, e_count = _token_counts(expected)
    if not p_count and not e_count:
        return 1.0
    if not p_count or not e_count:
        return 0.0
    common = sum((p & e).values())
    if common == 0:
        return 0.0
    precision, recall = common / p_count, common / e_count
    return 2 * precision * recall / (precision + recall)


class ExactJudge:
    """1 when the content (trimmed) and the error flag are identical, else 0."""

    name = "exact"

    def judge(self, predicted: Observation, expected: Observation) -> Verdict:
        same = predicted.content.strip() == expected.content.strip()
        flag = predicted.is_error == expected.is_error
        if same and flag:
            return Verdict(1.0, "match")
        reason = "content differs" if not same else "error flag differs"
        return Verdict(0.0, reason)


class StructuralJudge:
    """JSON leaf by leaf (numbers as strings equal numbers), text by token F1; flags count."""

    name = "structural"

    def judge(self, predicted: Observation, expected: Observation) -> Verdict:
        e = _leaves(expected.content)
        p = _leaves(predicted.content) if e is not None else None
        if e is not None and p is not None:
            return self._json(p, e, predicted, expected)
        feedback = []
        score = token_f1(predicted.content, expected.content)
        if e is not None:
            score *= 0.5
            feedback.append("expected JSON, got text")
        elif score < 1.0:
            feedback.append(f"text token F1 {score:.2f}; expected: {expected.content[:160]!r}")
        return _with_flag(score, feedback, predicted, expected)

    def _json(
        self, p: dict[str, Any], e: dict[str, Any], predicted: Observation, expected: Observation
    ) -> Verdict:
        """Leaf by leaf, from the JSON leaves of the prediction (`p`) and of the record (`e`)."""
        keys = p.keys() | e.keys()
        if not keys:
            return _with_flag(1.0, [], predicted, expected)
        matched = 0
        misses: list[str] = []
        for key in sorted(keys):
            if key in p and key in e and _same_leaf(p[key], e[key]):
                matched += 1
            elif len(misses) < 3:
                got = repr(p[key])[:60] if key in p else "missing"
                want = repr(e[key])[:60] if key in e else "absent"
                misses.append(f"field {key or '<root>'}: got {got}, expected {want}")
        return _with_flag(matched / len(keys), misses, predicted, expected)


class NumericJudge:
    """The numbers in the content, in order, compared with a relative tolerance."""

    name = "numeric"

    def __init__(self, rel_tol: float = 1e-6) -> None:
        self.rel_tol = rel_tol

    def judge(self, predicted: Observation, expected: Observation) -> Verdict:
        p = [float(x) for x in _NUMBER.findall(predicted.content)]
        e = [float(x) for x in _NUMBER.findall(expected.content)]
        if not e:
            return StructuralJudge().judge(predicted, expected)
        hits = sum(
            1
            for a, b in zip(p, e, strict=False)
            if math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=1e-12)
        )
        score = hits / max(len(p), len(e))
        feedback = [] if score == 1 else [f"{hits} of {len(e)} numbers match; expected {e[:5]}"]
        return _with_flag(score, feedback, predicted, expected)

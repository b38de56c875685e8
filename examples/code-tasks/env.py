"""A real coding environment for wmh's code-tasks example: small generated Python repositories
with one seeded bug, file tools that act on disk, and real pytest runs, so that recorded traces
hold genuine observations rather than invented ones.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from string import Template
from typing import Any

WORDS = (
    "alpha",
    "brave",
    "cedar",
    "delta",
    "ember",
    "frost",
    "grove",
    "harbor",
    "ivory",
    "jade",
    "kite",
    "lunar",
    "maple",
    "north",
    "orbit",
    "pixel",
    "quartz",
    "river",
    "solar",
    "timber",
    "umber",
    "violet",
    "willow",
    "zephyr",
)
PEOPLE = ("ada", "bo", "cleo", "dev", "eli", "fay", "gus", "hana", "ivo", "juno", "kai", "lea")
PALINDROMES = (
    "Never odd or even",
    "Was it a car or a cat I saw",
    "No lemon, no melon",
    "A man, a plan, a canal: Panama",
    "Madam, in Eden, I'm Adam",
)
PROJECTS = ("tidykit", "ledgerline", "pebble-utils", "northwind-tools", "quillkit", "orchard")
PACKAGES = ("pkg", "core", "toolkit")

# The one normalisation: pytest's summary line ends with a wall-clock duration.
DURATION = re.compile(r" in \d+(?:\.\d+)?s(?: \(\d+:\d\d:\d\d\))?$", re.MULTILINE)
STABLE_DURATION = " in 0.01s"


def literal(value: Any) -> str:
    """Python source for a plain value, with double-quoted strings (as a formatter would)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


# --------------------------------------------------------------------------------------------
# The catalogue: functions that can be generated, each with bugs that make its test fail.


@dataclass(frozen=True)
class Bug:
    """One seeded defect: a correct line, its broken form, and a plausible wrong fix."""

    correct: str
    broken: str
    decoy: str  # a fix an agent might try first that still fails the test
    kind: str
    summary: str


def _no_params(rng: random.Random) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Family:
    """A function template (`${name}` and params), its possible bugs, and its test inputs."""

    names: tuple[str, ...]
    source: str
    bugs: tuple[Bug, ...]
    cases: Callable[[random.Random, Mapping[str, str]], list[str]]  # calls' arguments
    params: Callable[[random.Random], dict[str, str]] = _no_params


def _words(rng: random.Random, k: int) -> list[str]:
    return rng.sample(WORDS, k)


def _slug_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    padded = "  " + " ".join(w.capitalize() for w in _words(rng, 3)) + " "
    return [literal(padded), literal(rng.choice(WORDS))]


def _truncate_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    width = rng.randint(6, 12)
    exact = " ".join(_words(rng, 4))[:width]
    long = " ".join(_words(rng, 5))
    return [f"{literal(exact)}, {width}", f"{literal(long)}, {width}"]


def _count_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    words = _words(rng, rng.randint(3, 5))
    spaced = words[0] + "  " + " ".join(words[1:]) + " "
    return [literal(spaced), literal(" ".join(_words(rng, 2)))]


def _pad_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    number = str(rng.randint(1, 999))
    word = rng.choice(WORDS)[:3]
    return [
        f"{literal(number)}, {len(number) + rng.randint(2, 4)}",
        f'{literal(word)}, {len(word) + rng.randint(2, 4)}, "*"',
    ]


def _palindrome_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    return [literal(rng.choice(PALINDROMES)), literal(rng.choice(WORDS))]


def _initials_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    words = _words(rng, 3)
    return [literal(f"{words[0]}  {words[1]} {words[2]}"), literal(" ".join(_words(rng, 2)))]


def _clamp_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    low = rng.randint(0, 5)
    high = low + rng.randint(5, 20)
    inside = rng.randint(low + 1, high - 1)
    return [
        f"{inside}, {low}, {high}",
        f"{high + rng.randint(1, 10)}, {low}, {high}",
        f"{low - rng.randint(1, 10)}, {low}, {high}",
    ]


def _mean_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    values = [rng.randint(1, 20) for _ in range(rng.randint(2, 4))]
    return [literal(values), literal([rng.randint(1, 9)] * 3)]


def _percent_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    part = rng.randint(1, 20)
    total = part + rng.randint(1, 30)
    other = rng.randint(1, 9)
    return [f"{part}, {total}", f"{other}, {other + rng.randint(1, 20)}, 2"]


def _factorial_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    return [str(rng.randint(4, 8)), "0"]


def _range_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    low = rng.randint(0, 10)
    high = low + rng.randint(3, 12)
    return [f"{v}, {low}, {high}" for v in (low, high, rng.randint(low + 1, high - 1))]


def _leap_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    return [
        str(rng.choice((1600, 2000, 2400))),
        str(rng.choice((1700, 1800, 1900, 2100))),
        str(4 * rng.randint(480, 520) + rng.choice((0, 0, 1, 2))),
    ]


def _chunk_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    size = rng.randint(2, 4)
    count = size * rng.randint(2, 3) + rng.randint(1, size - 1)
    return [f"{literal(list(range(1, count + 1)))}, {size}", f"[], {size}"]


def _dedupe_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    words = _words(rng, 4)
    items = [words[2], words[0], words[2], words[3], words[0], words[1]]
    return [literal(items), literal([rng.randint(1, 5)] * 2)]


def _top_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    people = rng.sample(PEOPLE, rng.randint(4, 5))
    scores = dict(zip(people, rng.sample(range(10, 100), len(people)), strict=True))
    return [f"{literal(scores)}, {rng.randint(2, 3)}"]


def _last_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    items = [rng.randint(1, 50) for _ in range(rng.randint(3, 5))]
    return [literal(items), literal([rng.randint(1, 50)]), f"[], {literal(rng.choice(WORDS))}"]


def _field_params(rng: random.Random) -> dict[str, str]:
    return {"field": rng.choice(("age", "price", "year", "score"))}


def _records_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    people = rng.sample(PEOPLE, 3)
    values = rng.sample(range(1, 90), 3)
    records = [{"name": p, params["field"]: v} for p, v in zip(people, values, strict=True)]
    return [literal(records)]


def _email_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    user, host, other = _words(rng, 3)
    return [
        literal(f"{user}@{host}.com"),
        literal(f"{user}@{host}@{other}.org"),
        literal(f"{user}@{host}"),
    ]


def _bool_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    return [
        literal(f" {rng.choice(('Yes', 'TRUE', 'On'))} "),
        literal(rng.choice(("off", "0", "no", "False"))),
    ]


def _digits_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    a, b, c = rng.randint(100, 999), rng.randint(100, 999), rng.randint(1000, 9999)
    return [literal(f"tel: {b}-{c}"), literal(f"({a}) {b}-{c}")]


def _password_cases(rng: random.Random, params: Mapping[str, str]) -> list[str]:
    word = rng.choice(WORDS)
    eight = (word + "x" * 8)[:7] + str(rng.randint(0, 9))
    seven = (word + "y" * 7)[:6] + str(rng.randint(0, 9))
    return [literal(eight), literal(seven), literal("ab" + str(rng.randint(1, 9)))]


SLUGIFY = Family(
    names=("slugify", "make_slug", "to_slug"),
    source='''def ${name}(text: str) -> str:
    """A lower-case slug: the words of text joined by hyphens."""
    return "-".join(text.strip().lower().split())
''',
    bugs=(
        Bug(
            'return "-".join(text.strip().lower().split())',
            'return "-".join(text.strip().split())',
            'return "-".join(text.lower().split(" "))',
            "missing lower()",
            "it never lower-cased the text, so capitalised words stayed capitalised",
        ),
        Bug(
            'return "-".join(text.strip().lower().split())',
            'return "_".join(text.strip().lower().split())',
            'return "-".join(text.strip().lower())',
            "wrong separator",
            "it joined the words with '_' instead of '-'",
        ),
    ),
    cases=_slug_cases,
)

TRUNCATE = Family(
    names=("truncate", "shorten", "clip_text"),
    source='''def ${name}(text: str, width: int) -> str:
    """text cut to at most width characters, the cut marked with '...'."""
    if len(text) <= width:
        return text
    return text[: width - 3] + "..."
''',
    bugs=(
        Bug(
            "if len(text) <= width:",
            "if len(text) < width:",
            "if len(text) <= width - 1:",
            "off-by-one",
            "it compared with < instead of <=, so text exactly `width` long was cut",
        ),
        Bug(
            'return text[: width - 3] + "..."',
            'return text[:width] + "..."',
            'return text[: width - 2] + "..."',
            "off-by-one",
            "the cut ignored the three characters of the '...' marker, overshooting width",
        ),
    ),
    cases=_truncate_cases,
)

COUNT_WORDS = Family(
    names=("count_words", "word_count"),
    source='''def ${name}(text: str) -> int:
    """How many whitespace-separated words text holds."""
    return len(text.split())
''',
    bugs=(
        Bug(
            "return len(text.split())",
            'return len(text.split(" "))',
            'return len(text.strip().split(" "))',
            "wrong split",
            "it split on single spaces, so repeated or trailing spaces counted as words",
        ),
    ),
    cases=_count_cases,
)

PAD = Family(
    names=("pad_left", "zero_pad", "left_pad"),
    source='''def ${name}(text: str, width: int, fill: str = "0") -> str:
    """text left-padded with fill up to width characters."""
    return fill * max(0, width - len(text)) + text
''',
    bugs=(
        Bug(
            'def ${name}(text: str, width: int, fill: str = "0") -> str:',
            'def ${name}(text: str, width: int, fill: str = " ") -> str:',
            'def ${name}(text: str, width: int, fill: str = "00") -> str:',
            "wrong default",
            'the default fill was " " instead of "0"',
        ),
        Bug(
            "return fill * max(0, width - len(text)) + text",
            "return fill * max(0, width - len(text) - 1) + text",
            "return fill * max(1, width - len(text) - 1) + text",
            "off-by-one",
            "it padded one character short of width",
        ),
    ),
    cases=_pad_cases,
)

PALINDROME = Family(
    names=("is_palindrome", "reads_same_backwards"),
    source='''def ${name}(text: str) -> bool:
    """True when text reads the same backwards, ignoring case, spaces and punctuation."""
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]
''',
    bugs=(
        Bug(
            "cleaned = [c.lower() for c in text if c.isalnum()]",
            "cleaned = [c for c in text if c.isalnum()]",
            "cleaned = [c.lower() for c in text]",
            "missing lower()",
            "it compared characters without lower-casing them, so case made a difference",
        ),
    ),
    cases=_palindrome_cases,
)

INITIALS = Family(
    names=("initials", "acronym"),
    source='''def ${name}(text: str) -> str:
    """The upper-cased first letter of each word: "portable network graphics" -> "PNG"."""
    return "".join(word[0].upper() for word in text.split())
''',
    bugs=(
        Bug(
            'return "".join(word[0].upper() for word in text.split())',
            'return "".join(word[0] for word in text.split())',
            'return "".join(word[0].upper() for word in text.split(" "))',
            "missing upper()",
            "it never upper-cased the letters",
        ),
        Bug(
            'return "".join(word[0].upper() for word in text.split())',
            'return "".join(word[-1].upper() for word in text.split())',
            'return "".join(word[1].upper() for word in text.split())',
            "wrong index",
            "it took the last letter of each word (word[-1]) instead of the first",
        ),
    ),
    cases=_initials_cases,
)

CLAMP = Family(
    names=("clamp", "bound", "limit"),
    source='''def ${name}(value: int, low: int, high: int) -> int:
    """value limited to the closed range [low, high]."""
    return max(low, min(value, high))
''',
    bugs=(
        Bug(
            "return max(low, min(value, high))",
            "return min(low, max(value, high))",
            "return max(low, min(value, low))",
            "wrong operator",
            "min and max were swapped, so values inside the range came back as low",
        ),
        Bug(
            "return max(low, min(value, high))",
            "return max(low, min(value, high - 1))",
            "return max(low + 1, min(value, high - 1))",
            "off-by-one",
            "it capped values at high - 1, excluding the upper bound",
        ),
    ),
    cases=_clamp_cases,
)

MEAN = Family(
    names=("mean", "average"),
    source='''def ${name}(values: list[int]) -> float:
    """The arithmetic mean of a non-empty list."""
    return sum(values) / len(values)
''',
    bugs=(
        Bug(
            "return sum(values) / len(values)",
            "return sum(values) // len(values)",
            "return float(sum(values) // len(values))",
            "wrong operator",
            "it used floor division (//), dropping the fractional part",
        ),
        Bug(
            "return sum(values) / len(values)",
            "return sum(values) / (len(values) - 1)",
            "return sum(values) / len(values) - 1",
            "off-by-one",
            "it divided by len(values) - 1 instead of len(values)",
        ),
    ),
    cases=_mean_cases,
)

PERCENT = Family(
    names=("percent", "percentage", "as_percent"),
    source='''def ${name}(part: int, total: int, digits: int = 1) -> float:
    """part as a percentage of total, rounded to digits decimals."""
    return round(100 * part / total, digits)
''',
    bugs=(
        Bug(
            "def ${name}(part: int, total: int, digits: int = 1) -> float:",
            "def ${name}(part: int, total: int, digits: int = 0) -> float:",
            "def ${name}(part: int, total: int, digits: int = 2) -> float:",
            "wrong default",
            "digits defaulted to 0 instead of 1",
        ),
        Bug(
            "return round(100 * part / total, digits)",
            "return round(part / total, digits)",
            "return round(100 * part // total, digits)",
            "wrong formula",
            "it returned the fraction part / total without multiplying by 100",
        ),
    ),
    cases=_percent_cases,
)

FACTORIAL = Family(
    names=("factorial", "fact"),
    source='''def ${name}(n: int) -> int:
    """n! for n >= 0."""
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result
''',
    bugs=(
        Bug(
            "for i in range(2, n + 1):",
            "for i in range(2, n):",
            "for i in range(1, n):",
            "off-by-one",
            "the loop stopped before n (range(2, n) instead of range(2, n + 1))",
        ),
    ),
    cases=_factorial_cases,
)

IN_RANGE = Family(
    names=("in_range", "within", "is_between"),
    source='''def ${name}(value: int, low: int, high: int) -> bool:
    """True when low <= value < high (a half-open range)."""
    return low <= value < high
''',
    bugs=(
        Bug(
            "return low <= value < high",
            "return low < value < high",
            "return low < value <= high",
            "off-by-one",
            "it excluded low itself (low < value instead of low <= value)",
        ),
        Bug(
            "return low <= value < high",
            "return low <= value <= high",
            "return low < value <= high",
            "off-by-one",
            "it included high, but the range is half-open",
        ),
    ),
    cases=_range_cases,
)

LEAP = Family(
    names=("is_leap_year", "is_leap"),
    source='''def ${name}(year: int) -> bool:
    """The Gregorian leap-year rule."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
''',
    bugs=(
        Bug(
            "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
            "return year % 4 == 0 and year % 100 != 0",
            "return year % 4 == 0 or year % 400 == 0",
            "missing condition",
            "it dropped the every-400-years exception, so 2000-style years were not leap",
        ),
        Bug(
            "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
            "return year % 4 == 0 and (year % 100 == 0 or year % 400 == 0)",
            "return year % 4 == 0 and (year % 100 != 0 and year % 400 == 0)",
            "inverted condition",
            "the century test was inverted (year % 100 == 0 instead of != 0)",
        ),
    ),
    cases=_leap_cases,
)

CHUNK = Family(
    names=("chunk", "chunked", "batches"),
    source='''def ${name}(items: list, size: int) -> list[list]:
    """items split into consecutive lists of at most size elements."""
    return [items[i : i + size] for i in range(0, len(items), size)]
''',
    bugs=(
        Bug(
            "return [items[i : i + size] for i in range(0, len(items), size)]",
            "return [items[i : i + size - 1] for i in range(0, len(items), size)]",
            "return [items[i : i + size] for i in range(0, len(items) - size, size)]",
            "off-by-one",
            "each slice stopped one element early (i + size - 1)",
        ),
        Bug(
            "return [items[i : i + size] for i in range(0, len(items), size)]",
            "return [items[i : i + size] for i in range(1, len(items), size)]",
            "return [items[i : i + size] for i in range(1, len(items) + 1, size)]",
            "off-by-one",
            "the chunks started at index 1, dropping the first item",
        ),
    ),
    cases=_chunk_cases,
)

DEDUPE = Family(
    names=("dedupe", "unique", "remove_duplicates"),
    source='''def ${name}(items: list) -> list:
    """items without repeats, in first-seen order."""
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
''',
    bugs=(
        Bug(
            "if item not in seen:",
            "if item in seen:",
            "if item in result:",
            "inverted condition",
            "the membership test was inverted (item in seen), so nothing was kept",
        ),
        Bug(
            "return result",
            "return sorted(seen)",
            "return sorted(result)",
            "wrong order",
            "it returned the items sorted instead of in first-seen order",
        ),
    ),
    cases=_dedupe_cases,
)

TOP_N = Family(
    names=("top_n", "leaders", "best_scores"),
    source='''def ${name}(scores: dict[str, int], n: int) -> list[str]:
    """The names with the n highest scores, best first."""
    ranked = sorted(scores, key=lambda player: scores[player], reverse=True)
    return ranked[:n]
''',
    bugs=(
        Bug(
            "ranked = sorted(scores, key=lambda player: scores[player], reverse=True)",
            "ranked = sorted(scores, key=lambda player: scores[player])",
            "ranked = sorted(scores, reverse=True)",
            "wrong sort order",
            "it sorted ascending, so the lowest scores came first",
        ),
        Bug(
            "ranked = sorted(scores, key=lambda player: scores[player], reverse=True)",
            "ranked = sorted(scores, reverse=True)",
            "ranked = sorted(scores.values(), reverse=True)",
            "wrong sort key",
            "it sorted by name instead of by score",
        ),
    ),
    cases=_top_cases,
)

LAST = Family(
    names=("last", "last_item", "last_or_default"),
    source='''def ${name}(items: list, default: object = None) -> object:
    """The last item, or default when items is empty."""
    return items[-1] if items else default
''',
    bugs=(
        Bug(
            "return items[-1] if items else default",
            "return items[0] if items else default",
            "return items[len(items)] if items else default",
            "wrong index",
            "it returned items[0], the first item, instead of items[-1]",
        ),
        Bug(
            "return items[-1] if items else default",
            "return items[-1] if not items else default",
            "return items[-1] if len(items) > 1 else default",
            "inverted condition",
            "the emptiness test was inverted (if not items)",
        ),
    ),
    cases=_last_cases,
)

SORT_RECORDS = Family(
    names=("sort_by_${field}", "order_by_${field}"),
    source='''def ${name}(records: list[dict]) -> list[dict]:
    """records ordered by their "${field}" value, smallest first."""
    return sorted(records, key=lambda record: record["${field}"])
''',
    bugs=(
        Bug(
            'return sorted(records, key=lambda record: record["${field}"])',
            'return sorted(records, key=lambda record: record["name"])',
            'return sorted(records, key=lambda record: record["name"], reverse=True)',
            "wrong sort key",
            'it sorted by "name" instead of by "${field}"',
        ),
        Bug(
            'return sorted(records, key=lambda record: record["${field}"])',
            'return sorted(records, key=lambda record: record["${field}"], reverse=True)',
            'return sorted(records, key=lambda record: -record["${field}"])',
            "wrong sort order",
            "it sorted largest first (reverse=True)",
        ),
    ),
    cases=_records_cases,
    params=_field_params,
)

EMAIL = Family(
    names=("is_valid_email", "looks_like_email"),
    source='''def ${name}(address: str) -> bool:
    """A light check: text before one '@' and a dotted domain after it."""
    local, at, domain = address.partition("@")
    return bool(local) and bool(at) and "." in domain and "@" not in domain
''',
    bugs=(
        Bug(
            'return bool(local) and bool(at) and "." in domain and "@" not in domain',
            'return bool(local) and bool(at) and "." in domain',
            'return bool(local) and "." in domain and "@" not in local',
            "missing condition",
            "it did not reject a second '@' in the domain",
        ),
        Bug(
            'return bool(local) and bool(at) and "." in domain and "@" not in domain',
            'return bool(local) and bool(at) and "." in local and "@" not in domain',
            'return bool(at) and "." in domain',
            "wrong variable",
            "it looked for the dot in the local part instead of the domain",
        ),
    ),
    cases=_email_cases,
)

PARSE_BOOL = Family(
    names=("parse_bool", "as_bool", "is_truthy"),
    source='''def ${name}(text: str) -> bool:
    """Read yes/no style flags such as "Yes", " true ", "1" or "off"."""
    return text.strip().lower() in {"1", "true", "yes", "on"}
''',
    bugs=(
        Bug(
            'return text.strip().lower() in {"1", "true", "yes", "on"}',
            'return text.lower() in {"1", "true", "yes", "on"}',
            'return text.strip() in {"1", "true", "yes", "on"}',
            "missing strip()",
            "it did not strip surrounding whitespace before comparing",
        ),
    ),
    cases=_bool_cases,
)

DIGITS = Family(
    names=("digits_only", "strip_non_digits", "phone_digits"),
    source='''def ${name}(text: str) -> str:
    """Only the digits of text, e.g. for phone numbers."""
    return "".join(ch for ch in text if ch.isdigit())
''',
    bugs=(
        Bug(
            'return "".join(ch for ch in text if ch.isdigit())',
            'return "".join(ch for ch in text if ch.isalnum())',
            'return "".join(ch for ch in text if ch.isalpha())',
            "wrong predicate",
            "it kept letters too (isalnum instead of isdigit)",
        ),
        Bug(
            'return "".join(ch for ch in text if ch.isdigit())',
            'return "".join(ch for ch in text if not ch.isdigit())',
            'return "".join(ch for ch in text if ch.isdigit() or ch == "-")',
            "inverted condition",
            "the digit test was inverted, keeping everything but digits",
        ),
    ),
    cases=_digits_cases,
)

PASSWORD = Family(
    names=("is_strong_password", "password_ok"),
    source='''def ${name}(password: str, min_length: int = 8) -> bool:
    """At least min_length characters, at least one of them a digit."""
    return len(password) >= min_length and any(c.isdigit() for c in password)
''',
    bugs=(
        Bug(
            "return len(password) >= min_length and any(c.isdigit() for c in password)",
            "return len(password) > min_length and any(c.isdigit() for c in password)",
            "return len(password) >= min_length or any(c.isdigit() for c in password)",
            "off-by-one",
            "it required more than min_length characters (> instead of >=)",
        ),
        Bug(
            "def ${name}(password: str, min_length: int = 8) -> bool:",
            "def ${name}(password: str, min_length: int = 6) -> bool:",
            "def ${name}(password: str, min_length: int = 7) -> bool:",
            "wrong default",
            "min_length defaulted to 6 instead of 8",
        ),
    ),
    cases=_password_cases,
)


@dataclass(frozen=True)
class Module:
    """A module of the generated package: its docstring and the functions it can hold."""

    name: str
    doc: str
    guess: str  # a plausible wrong file name an agent might try first
    families: tuple[Family, ...]


MODULES = (
    Module(
        "textutils",
        "Small string helpers used across the project.",
        "text_utils.py",
        (SLUGIFY, TRUNCATE, COUNT_WORDS, PAD, PALINDROME, INITIALS),
    ),
    Module(
        "mathutils",
        "Numeric helpers.",
        "math_utils.py",
        (CLAMP, MEAN, PERCENT, FACTORIAL, IN_RANGE, LEAP),
    ),
    Module(
        "listutils",
        "Helpers for lists and records.",
        "collections.py",
        (CHUNK, DEDUPE, TOP_N, LAST, SORT_RECORDS),
    ),
    Module(
        "validators",
        "Input validation helpers.",
        "validation.py",
        (EMAIL, PARSE_BOOL, DIGITS, PASSWORD),
    ),
)


# --------------------------------------------------------------------------------------------
# Generating one task: a repository with exactly one failing test.


@dataclass(frozen=True)
class _Function:
    name: str
    source: str
    cases: list[str]
    expected: list[str]


@dataclass(frozen=True)
class TaskSpec:
    """One generated repository (with its bug in place) and what fixing it takes."""

    task_id: int
    project: str
    package: str
    module: str
    guess: str
    function: str
    kind: str
    summary: str
    broken: str  # the buggy line, without indentation
    fixed: str  # the line it should be
    decoy: str  # a wrong fix that still fails the test
    files: dict[str, str] = field(repr=False)  # relative path -> content, bug included
    fixed_source: str = field(repr=False)  # the module with the bug fixed
    tests: int = 0  # how many test functions the repository has

    @property
    def module_path(self) -> str:
        return f"{self.package}/{self.module}.py"

    @property
    def test_path(self) -> str:
        return f"tests/test_{self.module}.py"

    @property
    def test_name(self) -> str:
        return f"test_{self.function}"


def _run_cases(source: str, name: str, cases: list[str]) -> list[str]:
    """What each call returns (as source) or raises, with the given module source."""
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # our own generated code, to compute expected values
    outcomes = []
    for case in cases:
        try:
            outcomes.append(literal(eval(f"{name}({case})", namespace)))
        except Exception as exc:  # noqa: BLE001 - a buggy variant may raise anything
            outcomes.append(f"raised {type(exc).__name__}")
    return outcomes


def _make_function(
    family: Family, rng: random.Random, bug: Bug | None
) -> tuple[_Function, dict[str, str]]:
    """A function from family; with a bug, cases are drawn until the broken and decoy fail."""
    params = family.params(rng)
    name = Template(rng.choice(family.names)).substitute(params)
    values = {**params, "name": name}
    source = Template(family.source).substitute(values)
    lines = {}
    if bug is not None:
        lines = {
            "correct": Template(bug.correct).substitute(values),
            "broken": Template(bug.broken).substitute(values),
            "decoy": Template(bug.decoy).substitute(values),
            "summary": Template(bug.summary).substitute(values),
        }
        assert source.count(lines["correct"]) == 1, (name, lines["correct"])
    for _ in range(100):
        cases = family.cases(rng, params)
        expected = _run_cases(source, name, cases)
        if any(e.startswith("raised ") for e in expected):
            continue
        if bug is None or all(
            _run_cases(source.replace(lines["correct"], lines[variant]), name, cases) != expected
            for variant in ("broken", "decoy")
        ):
            return _Function(name, source, cases, expected), lines
    raise RuntimeError(f"no test inputs expose the bug in {name}")


def _assertion(name: str, case: str, expected: str) -> str:
    if expected == "True":
        return f"    assert {name}({case})"
    if expected == "False":
        return f"    assert not {name}({case})"
    return f"    assert {name}({case}) == {expected}"


def _module_files(package: str, module: Module, functions: list[_Function]) -> tuple[str, str, str]:
    """(module path, module source, test source) for functions in module."""
    source = f'"""{module.doc}"""\n\n\n' + "\n\n".join(f.source for f in functions)
    imports = ", ".join(sorted(f.name for f in functions))
    tests = [f"from {package}.{module.name} import {imports}\n"]
    for f in functions:
        body = "\n".join(_assertion(f.name, c, e) for c, e in zip(f.cases, f.expected, strict=True))
        tests.append(f"def test_{f.name}():\n{body}\n")
    return f"{package}/{module.name}.py", source, "\n\n".join(tests)


def make_task(task_id: int, rng: random.Random) -> TaskSpec:
    """A repository with one seeded bug, drawn from rng."""
    project = rng.choice(PROJECTS)
    package = rng.choice(PACKAGES)
    module = rng.choice(MODULES)
    chosen = rng.sample(module.families, 3)
    bugged = chosen[0]
    bug = rng.choice(bugged.bugs)
    functions: list[_Function] = []
    lines: dict[str, str] = {}
    for family in chosen:
        made, made_lines = _make_function(family, rng, bug if family is bugged else None)
        functions.append(made)
        lines = lines or made_lines
    target = functions[0]
    rng.shuffle(functions)
    module_path, fixed_source, test_source = _module_files(package, module, functions)
    assert fixed_source.count(lines["correct"]) == 1, lines["correct"]
    buggy_source = fixed_source.replace(lines["correct"], lines["broken"])
    files = {
        "README.md": (
            f"# {project}\n\nSmall helper library (the `{package}` package).\n\n"
            "Run the tests with `python -m pytest -q`.\n"
        ),
        "pytest.ini": "[pytest]\ntestpaths = tests\npythonpath = .\n",
        f"{package}/__init__.py": f'"""{project}: small helpers."""\n',
        module_path: buggy_source,
        f"tests/test_{module.name}.py": test_source,
    }
    tests = len(functions)
    if rng.random() < 0.5:  # a second, healthy module makes the repository less bare
        other = rng.choice([m for m in MODULES if m is not module])
        extra = [_make_function(f, rng, None)[0] for f in rng.sample(other.families, 2)]
        path, source, test = _module_files(package, other, extra)
        files[path] = source
        files[f"tests/test_{other.name}.py"] = test
        tests += len(extra)
    return TaskSpec(
        task_id=task_id,
        project=project,
        package=package,
        module=module.name,
        guess=module.guess,
        function=target.name,
        kind=bug.kind,
        summary=lines["summary"],
        broken=lines["broken"],
        fixed=lines["correct"],
        decoy=lines["decoy"],
        files=dict(sorted(files.items())),
        fixed_source=fixed_source,
        tests=tests,
    )


# --------------------------------------------------------------------------------------------
# The environment: tools over a repository on disk.

_PATH = {"type": "string", "description": "Path relative to the repository root."}
TOOLS: dict[str, dict[str, Any]] = {
    "list_files": {"type": "object", "properties": {}, "additionalProperties": False},
    "read_file": {
        "type": "object",
        "properties": {"path": _PATH},
        "required": ["path"],
        "additionalProperties": False,
    },
    "write_file": {
        "type": "object",
        "properties": {"path": _PATH, "content": {"type": "string"}},
        "required": ["path", "content"],
        "additionalProperties": False,
    },
    "replace_in_file": {
        "type": "object",
        "properties": {
            "path": _PATH,
            "old": {"type": "string", "description": "Exact text to replace; must occur once."},
            "new": {"type": "string"},
        },
        "required": ["path", "old", "new"],
        "additionalProperties": False,
    },
    "run_tests": {
        "type": "object",
        "properties": {
            "path": {**_PATH, "description": "A test file or folder; the whole suite if omitted."}
        },
        "additionalProperties": False,
    },
}
_SKIPPED_DIRS = {"__pycache__", ".pytest_cache"}


class ToolError(Exception):
    """A tool failed; its message is the observation."""


class CodeRepoEnv:
    """Per episode a fresh temporary repository; tools read, edit and test it for real."""

    def __init__(self, seed: int = 0, timeout: float = 60.0) -> None:
        self.seed = seed
        self.timeout = timeout
        self.root: Path | None = None
        self.spec: TaskSpec | None = None

    def task(self, task_id: int) -> TaskSpec:
        """The task_id-th task of this seed (the same every time)."""
        return make_task(task_id, random.Random(self.seed * 1_000_003 + task_id))

    def reset(self, task: TaskSpec | int) -> TaskSpec:
        """Write the task's repository into a new temporary directory and return its spec."""
        self.close()
        spec = self.task(task) if isinstance(task, int) else task
        root = Path(tempfile.mkdtemp(prefix="wmh-code-"))
        for rel, content in spec.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        self.root, self.spec = root, spec
        return spec

    def close(self) -> None:
        """Remove the episode's repository."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> CodeRepoEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tools(self) -> dict[str, dict[str, Any]]:
        """Tool name -> JSON schema of its arguments."""
        return {name: dict(schema) for name, schema in TOOLS.items()}

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        """Run a tool; returns (observation text, is_error). Never raises for agent mistakes."""
        if self.root is None:
            raise RuntimeError("call reset() before using tools")
        handler = getattr(self, f"_tool_{name}", None) if name in TOOLS else None
        if handler is None:
            return f"Error: unknown tool '{name}'", True
        try:
            _check_arguments(name, arguments)
            result, is_error = handler(**arguments)
        except ToolError as exc:
            result, is_error = f"Error: {exc}", True
        return self._scrub(result), is_error

    def _scrub(self, text: str) -> str:
        """Safety net: the temporary path must never reach an observation."""
        assert self.root is not None
        for root in {str(self.root.resolve()), str(self.root)}:
            text = text.replace(root + os.sep, "").replace(root, ".")
        return text

    def _resolve(self, path: str) -> Path:
        assert self.root is not None
        pure = PurePosixPath(path.replace("\\", "/"))
        if not path.strip() or pure.is_absolute() or ".." in pure.parts or ":" in path:
            raise ToolError(f"path '{path}' is outside the repository")
        target = (self.root / pure).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise ToolError(f"path '{path}' is outside the repository")
        return target

    def _read(self, path: str) -> tuple[Path, str]:
        target = self._resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a directory")
        if not target.is_file():
            raise ToolError(f"file not found: {path}")
        return target, target.read_text(encoding="utf-8")

    def _tool_list_files(self) -> tuple[str, bool]:
        assert self.root is not None
        files = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not _SKIPPED_DIRS.intersection(p.relative_to(self.root).parts)
        )
        return "\n".join(files), False

    def _tool_read_file(self, path: str) -> tuple[str, bool]:
        return self._read(path)[1], False

    def _tool_write_file(self, path: str, content: str) -> tuple[str, bool]:
        target = self._resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"Wrote {len(content.encode('utf-8'))} bytes to {path}", False

    def _tool_replace_in_file(self, path: str, old: str, new: str) -> tuple[str, bool]:
        target, text = self._read(path)
        if not old:
            raise ToolError("'old' must not be empty")
        count = text.count(old)
        if count == 0:
            raise ToolError(f"text to replace was not found in {path}")
        if count > 1:
            raise ToolError(f"text to replace occurs {count} times in {path}; include more context")
        target.write_text(text.replace(old, new), encoding="utf-8")
        return f"Replaced 1 occurrence in {path}", False

    def _tool_run_tests(self, path: str | None = None) -> tuple[str, bool]:
        assert self.root is not None
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short"]
        if path is not None:
            self._resolve(path)
            command.append(path)
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "COLUMNS": "80",
            "NO_COLOR": "1",
            "PYTHONIOENCODING": "utf-8",
        }
        try:
            done = subprocess.run(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"tests timed out after {self.timeout:g}s") from None
        output = DURATION.sub(STABLE_DURATION, done.stdout).rstrip("\n")
        return output, done.returncode != 0


def _check_arguments(name: str, arguments: Mapping[str, Any]) -> None:
    """Validate arguments against the tool's schema (all its properties are strings)."""
    schema = TOOLS[name]
    if not isinstance(arguments, Mapping):
        raise ToolError(f"{name}: arguments must be an object")
    for key in schema.get("required", []):
        if key not in arguments:
            raise ToolError(f"{name}: missing required argument '{key}'")
    for key, value in arguments.items():
        if key not in schema["properties"]:
            raise ToolError(f"{name}: unexpected argument '{key}'")
        if not isinstance(value, str):
            raise ToolError(f"{name}: argument '{key}' must be a string")


def _reset_for(env: CodeRepoEnv, task: str, search: int = 400) -> None:
    """Check out the repository a task text is about: the one whose project and function (or
    package) the text names."""
    for task_id in range(search):
        spec = env.task(task_id)
        if spec.project in task or (spec.function in task and spec.module_path in task):
            env.reset(spec)
            return
    raise ValueError(f"no task among the first {search} of seed {env.seed} matches: {task[:80]!r}")


def make_real_env(seed: int = 0) -> Any:
    """The real repositories behind wmh's `Env` protocol: each episode checks out, in a fresh
    temporary directory, the repository its task names."""
    from wmh.env import ToolEnv

    return ToolEnv(CodeRepoEnv(seed=seed), _reset_for, name="repo")


_SUMMARY = re.compile(r"^(?:(\d+) failed, )?(\d+) passed", re.MULTILINE)


class TestsPass:
    """The example's programmatic success check (`reward=success`): the episode succeeds when
    the last full test run it made passed with no failure; a step earns its reward when the
    environment did not answer it with an error. It reads the transcript, so it judges a
    simulated episode and a real one alike."""

    name = "success"

    def judge(self, task: str, turns: Any) -> Any:
        from wmh.scoring.rewards import RewardVerdict

        steps = [0.0 if t.observation.is_error else 1.0 for t in turns]
        runs = [
            t.observation.content
            for t in turns
            if t.action.name == "run_tests" and not t.action.arguments.get("path")
        ]
        if not runs:
            return RewardVerdict(0.0, steps, "no full test run: success unknown")
        match = _SUMMARY.search(runs[-1])
        if match and not match.group(1) and "error" not in runs[-1].lower():
            return RewardVerdict(1.0, steps, f"the last full run passed ({match.group(2)} tests)")
        return RewardVerdict(0.0, steps, "the last full test run did not pass")


def make_success_check() -> TestsPass:
    return TestsPass()

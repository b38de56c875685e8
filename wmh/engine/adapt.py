"""Adapt a neighbour's recorded observation to the current action's argument values.

When `get_user {"id": 4}` has no recording but `get_user {"id": 3}` has, the neighbour's answer with
3 replaced by 4 (as a value in JSON, or as a whole token in text) is a good guess.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from wmh.core.memo import text_cache

try:  # the same opcodes as difflib's, a quarter of the time (no wheels beyond Python 3.13)
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover
    from difflib import SequenceMatcher

Scalar = str | int | float


def argument_leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a JSON value by its path (`a.b[2].c`), in document order; of two leaves
    with one path, the place of the first and the value of the last."""
    out: dict[str, Any] = {}
    _leaves_into(value, path, out)
    return out


def _leaves_into(value: Any, path: str, out: dict[str, Any]) -> None:
    """`argument_leaves` into one dict (merging a dict a level, as it did, cost a JSON answer's
    signature half its time)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves_into(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _leaves_into(item, f"{path}[{i}]", out)
    else:
        out[path] = value


# A word-like token: letters, digits and the joiners of ids, paths and addresses; else one mark.
_WORD_TOKEN = re.compile(r"\w[\w.\-/@:]*|[^\w\s]")
# Word lists are aligned only where the differing parts hold at most this many token pairs: two
# unlike scripts of fifty lines cost milliseconds to align (with Python's difflib, swe-bench's
# step p99 was 2.6 ms with the bound, 3.6 without; fidelity 0.4231 against 0.4235).
WORD_ALIGN_MAX = 40_000


def _aligned(old_tokens: list[str], new_tokens: list[str], limit: int = 0) -> list[tuple[str, str]]:
    """The tokens a same-length replacement swaps when one token list is aligned to the other
    (none when the parts to align hold more than `limit` token pairs, if set)."""
    if len(old_tokens) < 2 or len(new_tokens) < 2:
        return []
    # Only the part between the common head and tail is aligned (most calls differ in a few
    # places; difflib's cost grows with the product of the lengths).
    head = len(os.path.commonprefix([old_tokens, new_tokens]))
    room = min(len(old_tokens), len(new_tokens)) - head
    tail = len(os.path.commonprefix([old_tokens[::-1][:room], new_tokens[::-1][:room]]))
    old_part = old_tokens[head : len(old_tokens) - tail]
    new_part = new_tokens[head : len(new_tokens) - tail]
    if len(old_part) == len(new_part) and len(old_part) <= 1:
        return list(zip(old_part, new_part, strict=True))
    if limit and len(old_part) * len(new_part) > limit:
        return []
    pairs: list[tuple[str, str]] = []
    matcher = SequenceMatcher(a=old_part, b=new_part, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            pairs.extend(zip(old_part[i1:i2], new_part[j1:j2], strict=True))
    return pairs


@text_cache(entries=4096, chars=1_000_000)  # some 50 bytes of tokens a character
def _tokens(text: str) -> tuple[list[str], list[str], frozenset[str], frozenset[str]]:
    """An argument's tokens by white space and by words, each also as the set of those of two
    characters or more. Kept: a corpus's calls are found again and again as neighbours, an RL
    loop makes its calls again and again, and a build's fit steps each held-out call under
    several policies; splitting swe-bench's scripts was a fifth of adapting an answer to a call
    (callgrind). Not kept with the answers they were looked for in: that would hold thousands
    of answers the step table has let go."""
    spaced, words = text.split(), _WORD_TOKEN.findall(text)
    return spaced, words, _long(spaced), _long(words)


def _long(tokens: list[str]) -> frozenset[str]:
    return frozenset(t for t in tokens if len(t) >= 2)


def _changes(old_long: frozenset[str], new_long: frozenset[str], content: str) -> bool:
    """Whether a token (of two characters or more) that only the old string has occurs in the
    answer."""
    return any(token in content for token in old_long - new_long)


def _token_pairs(old: str, new: str, content: str | None = None) -> list[tuple[str, str]]:
    """Differing tokens of two similar strings: aligned by white space (`cat a.txt` vs `cat
    b.txt` -> (a.txt, b.txt)), then by words, for values inside code and quoted arguments
    (`search(query="Yoga")` vs `search(query="Lunch")` -> (Yoga, Lunch)).

    With `content`, nothing is aligned unless a token only the old string has occurs in it (the
    alignment is the costly part, and a pair whose old token is absent changes nothing)."""
    old_spaced, old_words, old_spaced_long, old_words_long = _tokens(old)
    new_spaced, new_words, new_spaced_long, new_words_long = _tokens(new)
    pairs: list[tuple[str, str]] = []
    if content is None or _changes(old_spaced_long, new_spaced_long, content):
        pairs = _aligned(old_spaced, new_spaced)
    if content is None or _changes(old_words_long, new_words_long, content):
        words = _aligned(old_words, new_words, WORD_ALIGN_MAX)
        pairs += [(a, b) for a, b in words if _is_word(a) and len(a) >= 2 and _is_word(b)]
    return pairs


def _is_word(token: str) -> bool:
    return token[:1].isalnum() or token[:1] == "_"


def substitutions(
    old_args: dict[str, Any], new_args: dict[str, Any], content: str | None = None
) -> list[tuple[Any, Any]]:
    """(old value, new value) pairs for argument leaves that differ, longest old text first
    (with `content`, token pairs only where they can change it)."""
    old_leaves, new_leaves = argument_leaves(old_args), argument_leaves(new_args)
    pairs: list[tuple[Any, Any]] = []
    for path, old in old_leaves.items():
        if path not in new_leaves:
            continue
        new = new_leaves[path]
        if old == new or isinstance(old, bool) or isinstance(new, bool) or old is None:
            continue
        if isinstance(old, dict | list) or isinstance(new, dict | list) or new is None:
            continue
        pairs.append((old, new))
        if isinstance(old, str) and isinstance(new, str):
            pairs.extend(_token_pairs(old, new, content))
    unique = list(dict.fromkeys(pairs))
    unique.sort(key=lambda p: -len(str(p[0])))
    return unique


def _text_pattern(pairs: list[tuple[Any, Any]]) -> tuple[re.Pattern[str], dict[str, str]] | None:
    mapping = {str(old): str(new) for old, new in pairs if len(str(old)) >= 2}
    if not mapping:
        return None
    alternatives = "|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True))
    return re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])"), mapping


Compiled = tuple[re.Pattern[str], dict[str, str]] | None


def substitute_text(
    text: str, pairs: list[tuple[Any, Any]], compiled: Compiled | None = None
) -> tuple[str, int]:
    """Replace whole-token occurrences of old values by new ones, all at once (no chains).

    `compiled` is `_text_pattern(pairs)` when the caller substitutes many strings."""
    if compiled is None:
        compiled = _text_pattern(pairs)
    if compiled is None:
        return text, 0
    pattern, mapping = compiled
    result, count = pattern.subn(lambda m: mapping[m.group(0)], text)
    return result, count


def _substitute_json(
    value: Any, pairs: list[tuple[Any, Any]], compiled: Compiled, counter: list[int]
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_json(v, pairs, compiled, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_json(v, pairs, compiled, counter) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for old, new in pairs:
        if value == old and type(value) is type(old):
            counter[0] += 1
            return new
    if isinstance(value, str):
        if compiled is None:
            return value
        replaced, count = substitute_text(value, pairs, compiled)
        counter[0] += count
        return replaced
    return value


def dump_like(original: str, value: Any) -> str:
    """Serialise JSON in the style the original text used (indentation and separators)."""
    if "\n" in original.strip():
        indent_match = re.search(r"\n( +)\S", original)
        indent = len(indent_match.group(1)) if indent_match else 2
        return json.dumps(value, indent=indent, ensure_ascii=False)
    spaced = '": ' in original or '", ' in original or ", " in original
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(value, separators=separators, ensure_ascii=False)


def adapt_observation(
    content: str, old_args: dict[str, Any], new_args: dict[str, Any]
) -> tuple[str, int]:
    """The neighbour's observation with its argument values swapped for the current ones.

    Returns the adapted text and how many replacements were made.
    """
    # Only values the neighbour's answer contains can change it.
    pairs = [p for p in substitutions(old_args, new_args, content) if str(p[0]) in content]
    if not pairs:
        return content, 0
    stripped = content.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            parsed = None
        if parsed is not None:
            counter = [0]
            adapted = _substitute_json(parsed, pairs, _text_pattern(pairs), counter)
            if counter[0]:
                return dump_like(stripped, adapted), counter[0]
            return content, 0
    return substitute_text(content, pairs)

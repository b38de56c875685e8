"""The consensus's answer signatures are the same in every process (they once used Python's
salted string hash, so the same model chose, now and then, a different answer per process)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import zlib

import numpy as np

from wmh.engine.agreement import MAX_FEATURES, SIGNATURE_DIM, signature

CODE = (
    "from wmh.engine.agreement import signature\n"
    "import hashlib\n"
    'text = \'{"user": {"id": 7, "name": "Ada"}, "orders": [1, 2, 3]} and more words\'\n'
    "print(hashlib.sha256(signature(text).tobytes()).hexdigest())\n"
)


def test_signatures_do_not_depend_on_the_hash_seed() -> None:
    digests = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", CODE],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def _reference(words: list[str]) -> np.ndarray:
    """Signature of these features as defined: CRC-32 of each one's UTF-8, counted mod the dim."""
    counts = np.zeros(SIGNATURE_DIM, dtype=np.float32)
    for word in words:
        counts[zlib.crc32(word.encode("utf-8", "surrogatepass")) % SIGNATURE_DIM] += 1
    return counts


def test_an_ascii_answer_has_the_words_and_marks_a_str_pattern_finds() -> None:
    """ASCII answers are split in their bytes, where `\\s` lacks the separators \\x1c-\\x1f: they
    still separate words, as in any other answer, and are not counted as marks."""
    text = "Total:\x1c42 items\x1fFOO_bar\tbaz-qux\x0bend."
    words = ["total", ":", "42", "items", "foo_bar", "baz", "-", "qux", "end", "."]
    assert re.findall(r"\w+|[^\w\s]", text.lower()) == words
    assert np.array_equal(signature(text), _reference(words))


def test_json_leaves_and_a_lone_surrogate_are_hashed_by_their_utf8() -> None:
    leaves = '{"name": "caf\\u00e9", "tags": ["a", 2]}'
    assert np.array_equal(
        signature(leaves), _reference(["name='café'", "tags[0]='a'", "tags[1]=2"])
    )
    text = "Café \ud800 x"  # a lone surrogate (which UTF-8 cannot hold) as its own bytes
    assert np.array_equal(signature(text), _reference(["café", "\ud800", "x"]))


def test_plain_ascii_answers_count_the_first_features_the_str_pattern_finds() -> None:
    """A plain ASCII answer's words and marks are counted as a bag without the regular
    expression; the counts are those of its first MAX_FEATURES tokens, as `\\w+|[^\\w\\s]` finds
    them in the text, for every byte there is, on both sides of the cut."""
    rng = random.Random(11)
    alphabet = [chr(c) for c in range(128)] + ["ab", "  ", "_x9", "{", "["]
    texts = ["".join(rng.choices(alphabet, k=rng.randrange(0, 400))) for _ in range(2000)]
    # Long enough to be cut: the cut falls at every kind of byte.
    texts += ["".join(rng.choices(alphabet, k=rng.randrange(3000, 9000))) for _ in range(300)]
    texts += ["a." * (MAX_FEATURES // 2), "a." * (MAX_FEATURES // 2) + "b", "word " * 2500]
    texts += [" " + "!" * MAX_FEATURES, "\x1c\x1d\x1e\x1f", "", "x\x00y\x7fz"]
    for text in texts:
        words = re.findall(r"\w+|[^\w\s]", text.lower())[:MAX_FEATURES]
        if text.strip()[:1] in ("{", "["):
            continue  # maybe JSON: its leaves are compared above
        assert np.array_equal(signature(text), _reference(words)), repr(text[:60])

"""Many texts' n-grams hashed at once are each text's n-grams hashed alone: none spans two
texts, none is lost at a text's end, and a text too short for any n-gram is one feature."""

from __future__ import annotations

import hashlib

import numpy as np

from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.hashing import (
    CHAR_NGRAMS,
    _ngram_hashes,
    ngram_hashes_of,
    text_vector,
    text_vectors,
    unit,
    unit_rows,
)
from wmh.retrieval.text import QueryText

TEXTS = ["", "a", "ab", "abc", "abcd", "héllo wörld ✓", "x" * 40, 'get_user {"id": 7}', "ab"]


def test_texts_hashed_together_have_the_ngrams_of_each_alone() -> None:
    owners, hashes = ngram_hashes_of(TEXTS)
    for number, text in enumerate(TEXTS):
        alone = np.sort(_ngram_hashes(text, CHAR_NGRAMS))
        assert np.array_equal(np.sort(hashes[owners == number]), alone), text
    # "abcd" has two 3-grams and one 4-gram; "ab" none, so it is hashed whole.
    assert np.count_nonzero(owners == TEXTS.index("abcd")) == 3
    assert np.count_nonzero(owners == TEXTS.index("ab")) == 1
    assert len(hashes) == sum(max(len(t) - 2, 0) + max(len(t) - 3, 0) or 1 for t in TEXTS)


def test_texts_embedded_at_once_equal_each_embedded_alone() -> None:
    texts = [*TEXTS, "cat  a.txt\n\n", " "]
    for dim in (256, 1024):
        alone = np.stack([text_vector(text, dim) for text in texts])
        assert np.array_equal(text_vectors(texts, dim), alone)
    rows = np.stack([text_vector(text, 256) for text in texts]) * np.float32(3.3)
    assert np.array_equal(unit_rows(rows), np.stack([unit(row) for row in rows]))
    assert not np.any(text_vectors(["", " "], 64)[0])  # no n-gram: a zero vector
    assert not np.any(text_vectors([""], 64)) and text_vectors([], 64).shape == (0, 64)


def test_a_build_embeds_its_calls_as_queries_embed_them() -> None:
    embedder = HashingEmbedder(dim=128)
    calls = [QueryText(f'get_user {{"id": {i}}}', "task: x") for i in range(100)]
    calls += [QueryText(text, "") for text in TEXTS]
    assert len(calls) >= embedder.BATCH  # the build's path
    built = embedder.embed(calls)
    assert np.array_equal(built, np.stack([embedder.embed_one(call) for call in calls]))


def test_vectors_are_the_ones_saved_indexes_were_built_with() -> None:
    """Saved indexes (the prebuilt example models among them) are queried with the vectors
    their build made: these texts' vectors, at dimensions that are and are not powers of two,
    hash to what wmh's hashing has given since the indexes were first saved."""
    texts = [
        'bash {"command":"ls -la /tmp"}', "say hi", "ab", "héllo wörld ✓",
        'python {"code":"print(1)\\n  x = 2"}',
    ]  # fmt: skip
    digest = hashlib.sha256()
    for dim in (64, 256, 1000, 1024):
        for text in texts:
            digest.update(text_vector(text, dim).tobytes())
        digest.update(text_vectors(texts, dim).tobytes())
    assert digest.hexdigest() == "f3feef776ec90dfb30ff09967b286408cd1f992f7ce0b745c95f1a6311643e7b"

"""Many texts' n-grams hashed at once are each text's n-grams hashed alone: none spans two
texts, none is lost at a text's end, and a text too short for any n-gram is one feature."""

from __future__ import annotations

import numpy as np

from wmh.retrieval.hashing import CHAR_NGRAMS, _ngram_hashes, ngram_hashes_of

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

"""Feature hashing without a model: character n-grams and words into fixed-size unit vectors.

Calls are compared by the character 3–4-grams of their text (paths, commands, ids and code
differ by a few characters, which word n-grams miss); tasks by their words. The n-grams of a
text are hashed all at once with numpy (a rolling polynomial hash over its code points), so a
2,000-character call embeds in tens of microseconds. The hash is stable across processes and
machines, so a saved index is queried with exactly the vectors it was built with.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from wmh.core.memo import text_cache

CHAR_NGRAMS = (3, 4)
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s\s+")
# Hashing many texts at once holds about 120 bytes per code point, counting them into vectors 8
# bytes a dimension per text: a batch holds at most this many of each (about 30 and 16 MB).
HASHED_AT_ONCE = 1 << 18
COUNTED_AT_ONCE = 1 << 21
TextHashes = tuple[np.ndarray, np.ndarray]  # (each n-gram's text, its hash)


def _mixed(hashes: np.ndarray) -> np.ndarray:
    mixed = hashes * _MIX
    mixed ^= mixed >> np.uint64(31)
    return mixed


def _signs(mixed: np.ndarray) -> np.ndarray:
    """The sign each mixed hash counts with: its top bit's (0: +1, 1: -1)."""
    return 1.0 - 2.0 * (mixed >> np.uint64(63)).astype(np.float64)


def _buckets(mixed: np.ndarray, dim: int) -> np.ndarray:
    """Each mixed hash's dimension: its remainder by `dim` (a mask when `dim` is a power of
    two, the same number sooner)."""
    if dim & (dim - 1) == 0:
        return (mixed & np.uint64(dim - 1)).astype(np.intp)
    return (mixed % np.uint64(dim)).astype(np.intp)


def _scatter_mixed(mixed: np.ndarray, dim: int, out: np.ndarray) -> None:
    """Add signed counts of already mixed hashes into `out` (the top bit picks the sign)."""
    out += np.bincount(_buckets(mixed, dim), weights=_signs(mixed), minlength=dim)


def _scatter(hashes: np.ndarray, dim: int, out: np.ndarray) -> None:
    _scatter_mixed(_mixed(hashes), dim, out)


def _rolling(codes: np.ndarray, n: int) -> np.ndarray:
    """The (unmixed) hash of the n-gram at each position of `codes` that starts one."""
    count = len(codes) - n + 1
    hashes = np.full(count, np.uint64(n), dtype=np.uint64)
    for offset in range(n):
        hashes = hashes * _PRIME + codes[offset : offset + count]
    return hashes


def _rolling_sizes(codes: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """`_rolling(codes, n)` for each size `codes` is long enough for. An n-gram's hash is seeded
    with n: n P^n + c0 P^(n-1) + ... + c(n-1), mod 2^64. So an (n + 1)-gram's, when the size
    before it is n, is (h + P^n) * P + the next code point (the seed n becomes n + 1): three
    array operations instead of the 2n + 2 of rolling it anew."""
    parts: list[np.ndarray] = []
    last = 0
    for n in sizes:
        if len(codes) < n:
            continue
        if parts and n == last + 1:
            power = np.uint64(pow(int(_PRIME), last, 1 << 64))
            parts.append((parts[-1][:-1] + power) * _PRIME + codes[last:])
        else:
            parts.append(_rolling(codes, n))
        last = n
    return parts


@text_cache(entries=8192, chars=2_000_000)  # 16 bytes of hashes a character
def _ngram_hashes(text: str, sizes: tuple[int, ...]) -> np.ndarray:
    """The mixed hashes of every character n-gram of `text`, computed once per text while
    serving (a query's call is embedded for the search, again, smaller, as part of the next
    steps' histories, and by the copy baseline); a build hashes its calls with
    `ngram_hashes_of`."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = _rolling_sizes(codes, sizes)
    if len(codes) < min(sizes):  # too short for any n-gram: the whole text is one feature
        parts.append(np.array([zlib.crc32(text.encode()) + 1], dtype=np.uint64))
    mixed = _mixed(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    mixed.setflags(write=False)
    return mixed


def spaced(text: str) -> str:
    """Runs of white space as one space, as every text is hashed."""
    return _SPACES.sub(" ", text)


def call_ngrams(text: str) -> np.ndarray:
    """The mixed hashes of a call text's character n-grams, as its embedding counts them."""
    return _ngram_hashes(spaced(text), CHAR_NGRAMS)


def ngram_hashes_of(texts: Sequence[str], sizes: tuple[int, ...] = CHAR_NGRAMS) -> TextHashes:
    """The n-gram hashes of many texts at once: (the number of each n-gram's text, its mixed
    hash), the same hashes as `_ngram_hashes` gives each text (in another order). One pass of
    numpy over the texts end to end, the n-grams that span two texts left out: a corpus's calls
    are hashed in a fraction of the time one call at a time takes."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(codes), dtype=np.int64) - np.repeat(starts, lengths)
    owners, parts = [], []
    for n in sizes:
        count = len(codes) - n + 1
        if count <= 0:
            continue
        inside = position[:count] + n <= lengths[owner[:count]]
        owners.append(owner[:count][inside])
        parts.append(_rolling(codes, n)[inside])
    short = np.flatnonzero(lengths < min(sizes))  # as `_ngram_hashes`: the whole text, once
    if len(short):
        owners.append(short)
        whole = [zlib.crc32(texts[i].encode()) + 1 for i in short.tolist()]
        parts.append(np.asarray(whole, dtype=np.uint64))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(owners), _mixed(np.concatenate(parts))


def char_ngram_counts(text: str, dim: int, sizes: Iterable[int] = CHAR_NGRAMS) -> np.ndarray:
    """Signed hashed counts of the character n-grams of `text` (not normalised)."""
    out = np.zeros(dim, dtype=np.float64)
    if text:
        _scatter_mixed(_ngram_hashes(text, tuple(sizes)), dim, out)
    return out


def text_vector(text: str, dim: int) -> np.ndarray:
    """A call's text as a unit vector: runs of white space count as one space (indentation would
    otherwise outweigh the code) and repeated n-grams count logarithmically."""
    counts = char_ngram_counts(spaced(text), dim)
    return unit(np.sign(counts) * np.log1p(np.abs(counts)))


def text_vectors(texts: Sequence[str], dim: int) -> np.ndarray:
    """`text_vector` of each text, as rows, their n-grams hashed a batch at a time (a build's
    calls are embedded so; the rows are equal bit for bit to the vectors a query gets)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    spaced_texts = [spaced(text) for text in texts]
    for start, batch in batches(spaced_texts, HASHED_AT_ONCE, max(1, COUNTED_AT_ONCE // dim)):
        owners, mixed = ngram_hashes_of(batch)
        kept = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))[owners] > 0
        owners, mixed = owners[kept], mixed[kept]  # an empty text has no n-gram: a zero vector
        cells = owners * dim + _buckets(mixed, dim)
        counts = np.bincount(cells, _signs(mixed), len(batch) * dim).astype(np.float64)
        counted = np.flatnonzero(counts)  # repeated n-grams count logarithmically
        counts[counted] = np.sign(counts[counted]) * np.log1p(np.abs(counts[counted]))
        out[start : start + len(batch)] = unit_rows(counts.reshape(-1, dim))
    return out


def batches(texts: Sequence[str], code_points: int, rows: int) -> Iterator[tuple[int, list[str]]]:
    """(first number, texts) in order, each batch at most `rows` texts of at most `code_points`
    in all (or one longer text alone): what hashing them at once holds in memory is bounded."""
    batch: list[str] = []
    first = size = 0
    for number, text in enumerate(texts):
        if batch and (size + len(text) > code_points or len(batch) == rows):
            yield first, batch
            batch, first, size = [], number, 0
        batch.append(text)
        size += len(text)
    if batch:
        yield first, batch


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """`unit` of each row (the same norm, the same division, so the same bits)."""
    norms = np.array([row.dot(row) for row in rows], dtype=rows.dtype)
    np.sqrt(norms, out=norms)
    norms[norms == 0] = 1
    return (rows / norms[:, None]).astype(np.float32)


def word_counts(text: str, dim: int) -> np.ndarray:
    """Signed hashed counts of the lower-cased words of `text` (not normalised)."""
    out = np.zeros(dim, dtype=np.float64)
    words = _WORD.findall(text.lower())
    if words:
        hashes = np.fromiter((zlib.crc32(w.encode()) for w in words), np.uint64, len(words))
        _scatter(hashes, dim, out)
    return out


def unit(vector: np.ndarray) -> np.ndarray:
    """The vector scaled to length 1, as float32 (a zero vector stays zero)."""
    # As `np.linalg.norm` of a contiguous float vector (every caller's), without its checks.
    norm = float(np.sqrt(vector.dot(vector)))
    return (vector / norm if norm else vector).astype(np.float32)

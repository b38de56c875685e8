"""Rows of the very same call share one indexed vector: a search scores each distinct call once
and answers with exactly the rows, scores and order of a search over every row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wmh.retrieval import index as index_module
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.table import first_rows
from wmh.store.loader import load_world_model


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _repeated() -> tuple[np.ndarray, list[str], np.ndarray]:
    """600 rows of 40 distinct calls: route a the first 20, route b the other 20."""
    rng = np.random.default_rng(3)
    calls = np.concatenate([rng.integers(0, 20, 200), rng.integers(20, 40, 400)])
    return _unit(40, 32, 1)[calls], ["a"] * 200 + ["b"] * 400, calls


def test_a_grouped_index_answers_as_one_over_every_row() -> None:
    vectors, routes, calls = _repeated()
    every = PartitionedIndex.build(vectors, routes, kind="flat")
    grouped = PartitionedIndex.build(vectors, routes, kind="flat", groups=calls)
    assert grouped.partitions["b"].index.ntotal == 20  # one vector per distinct call
    assert every.partitions["b"].index.ntotal == 400
    odd = lambda rows: rows % 2 == 1  # noqa: E731 - a search's keep filter
    for seed in range(8):
        query = _unit(1, 32, 100 + seed)[0]
        for route in ("a", "b"):
            for k in (1, 5, 37, 500):
                for keep in (None, odd):
                    rows, scores = grouped.search(route, query, k, keep)
                    want_rows, want_scores = every.search(route, query, k, keep)
                    assert rows.tolist() == want_rows.tolist()
                    np.testing.assert_allclose(scores, want_scores, rtol=1e-6)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_embedding_only_the_first_row_of_each_call_builds_the_same_index(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """As a build embeds: called for rows [start, end) a chunk at a time, it gives only the
    vectors of the rows that are the first of their call (a chunk may hold none)."""
    monkeypatch.setattr(index_module, "CHUNK", 150)
    vectors, routes, calls = _repeated()
    first = first_rows(calls)
    asked: list[int] = []

    def embed(start: int, end: int) -> np.ndarray:
        asked.extend(np.flatnonzero(first[start:end]) + start)
        return vectors[start:end][first[start:end]]

    called = PartitionedIndex.build(embed, routes, kind=kind, groups=calls)
    given = PartitionedIndex.build(vectors, routes, kind=kind, groups=calls)
    assert asked == np.flatnonzero(first).tolist()  # each call embedded once
    assert called.partitions["b"].index.ntotal == given.partitions["b"].index.ntotal == 20
    for seed in range(4):
        query = _unit(1, 32, 200 + seed)[0]
        for route in ("a", "b"):
            rows, scores = called.search(route, query, 25)
            assert rows.tolist() == given.search(route, query, 25)[0].tolist()

    def every_row(start: int, end: int) -> np.ndarray:  # not what the build asked for
        return vectors[start:end]

    with pytest.raises(AssertionError, match="other rows than indexed"):
        PartitionedIndex.build(every_row, routes, kind=kind, groups=calls)


def test_groups_survive_a_round_trip_and_a_damaged_file_is_named(tmp_path: Path) -> None:
    vectors, routes, calls = _repeated()
    grouped = PartitionedIndex.build(vectors, routes, kind="flat", groups=calls)
    grouped.save(tmp_path / "index")
    loaded = PartitionedIndex.load(tmp_path / "index")
    query = _unit(1, 32, 9)[0]
    assert loaded.search("b", query, 30)[0].tolist() == grouped.search("b", query, 30)[0].tolist()
    files = sorted(p.name for p in (tmp_path / "index").glob("*.groups.npy"))
    assert files == ["part-0000.groups.npy", "part-0001.groups.npy"]
    np.save(tmp_path / "index" / files[1], np.zeros(7, dtype=np.int32))
    with pytest.raises(Exception, match="has 7 rows for a partition of 400"):
        PartitionedIndex.load(tmp_path / "index")


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_an_approximate_index_returns_every_row_of_a_call_it_finds(kind: str) -> None:
    vectors, routes, calls = _repeated()
    grouped = PartitionedIndex.build(vectors, routes, kind=kind, groups=calls)
    rows, _ = grouped.search("b", vectors[250], 3)
    same_call = np.flatnonzero(calls == calls[250])
    assert rows.tolist() == same_call[:3].tolist()  # the call itself, its first rows first


def test_a_build_indexes_each_distinct_call_once(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    table = wm.retriever.table
    for part in wm.retriever.index.partitions.values():  # type: ignore[attr-defined]
        keys = {table.step(row).action.key() for row in range(part.start, part.end)}
        assert part.index.ntotal == len(keys)
    assert any(p.groups is not None for p in wm.retriever.index.partitions.values())  # type: ignore[attr-defined]

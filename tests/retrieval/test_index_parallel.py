"""A large IVF partition's search shares the lists it probes among the cores, with the answers
of a search on one core."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from wmh.retrieval.index import PARALLEL_SCAN, PartitionedIndex, search_cores


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.skipif(search_cores() < 2, reason="one core: nothing to share")
def test_a_large_ivf_partition_searches_on_every_core_with_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = ["big"] * 20000 + ["small"] * 3000
    built = PartitionedIndex.build(_unit(23000, 48, 1), routes, kind="ivf")
    big, small = built.partitions["big"], built.partitions["small"]
    # 141 lists of 20,000 rows, 17 probed: about 2,400 codes a query; 54 lists of 3,000 rows,
    # 8 probed: about 440.
    assert big.index.nprobe * big.index.ntotal / big.index.nlist >= PARALLEL_SCAN
    assert (big.threads, big.index.parallel_mode) == (search_cores(), 1)
    assert small.threads == 1
    built.save(tmp_path / "index")
    loaded = PartitionedIndex.load(tmp_path / "index")
    assert loaded.partitions["big"].threads == search_cores()
    queries = _unit(30, 48, 7)
    shared = [loaded.search("big", q, 10) for q in queries]
    part = loaded.partitions["big"]
    part.threads, part.index.parallel_mode = 1, 0
    for query, (rows, scores) in zip(queries, shared, strict=True):
        one_rows, one_scores = loaded.search("big", query, 10)
        assert rows.tolist() == one_rows.tolist()
        assert np.allclose(scores, one_scores, atol=1e-6)
    # OMP_NUM_THREADS=1 (or an affinity of one core) keeps every search on one thread.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    part.threads, part.index.parallel_mode = 2, 1
    part.share_scan()
    assert (part.threads, part.index.parallel_mode) == (1, 0)


@pytest.mark.skipif(search_cores() < 2, reason="one core: the host's count is the same")
def test_an_index_is_built_with_the_cores_the_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(2)
        PartitionedIndex.build(_unit(300, 16, 3), ["t"] * 300, kind="ivf")
        assert faiss.omp_get_max_threads() == 1  # not the host's count of cores
    finally:
        faiss.omp_set_num_threads(before)

"""FAISS indexes over the training steps, one partition per tool (and one for messages).

Partitioning by tool keeps each query to the steps that can answer it, so a query never scans the
whole corpus. Small partitions use an exact inner-product index; large ones IVF (quick to
build) or HNSW.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import orjson

from wmh.errors import ConfigError, StoreError

INDEX_KINDS = ("auto", "flat", "hnsw", "ivf")


@dataclass(slots=True)
class Partition:
    route: str
    start: int  # rows [start, end) of the step table belong to this route
    end: int
    kind: str
    index: faiss.Index

    @property
    def size(self) -> int:
        return self.end - self.start


def ivf_nprobe(nlist: int) -> int:
    """Lists probed per query: about an eighth of them, at least 8."""
    return min(nlist, max(8, nlist // 8))


def _choose_kind(kind: str, size: int, flat_max: int) -> str:
    if kind not in INDEX_KINDS:
        raise ConfigError(f"retrieval.index must be one of {', '.join(INDEX_KINDS)}, got '{kind}'")
    if kind != "auto":
        return kind
    return "flat" if size <= flat_max else "ivf"


def _build_one(vectors: np.ndarray, kind: str, seed: int) -> faiss.Index:
    dim = vectors.shape[1]
    if kind == "flat" or len(vectors) < 64:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        index.hnsw.efSearch = 64
    else:
        nlist = max(8, int(math.sqrt(len(vectors))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.cp.niter = 10  # a coarse quantizer is enough to prune; keeps builds fast
        index.nprobe = ivf_nprobe(nlist)
    index.add(vectors)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index


class PartitionedIndex:
    """Routes -> FAISS indexes over contiguous row ranges of a route-sorted step table."""

    def __init__(self, partitions: Sequence[Partition]) -> None:
        self.partitions = {p.route: p for p in partitions}

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        routes: Sequence[str],
        kind: str = "auto",
        flat_max: int = 4096,
        seed: int = 0,
    ) -> PartitionedIndex:
        """`routes` must be sorted so each route's rows are contiguous."""
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        partitions = []
        start = 0
        for end in range(1, len(routes) + 1):
            if end == len(routes) or routes[end] != routes[start]:
                chosen = _choose_kind(kind, end - start, flat_max)
                block = np.ascontiguousarray(vectors[start:end], dtype=np.float32)
                partitions.append(
                    Partition(routes[start], start, end, chosen, _build_one(block, chosen, seed))
                )
                start = end
        return cls(partitions)

    def search(
        self,
        route: str,
        query: np.ndarray,
        k: int,
        keep: Callable[[int], bool] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) in a route, best first; `keep(row)` filters rows out (leak-free)."""
        part = self.partitions.get(route)
        if part is None or k <= 0:
            return []
        # One query is too small to share between threads; OpenMP start-up would dominate.
        faiss.omp_set_num_threads(1)
        fetch = min(part.size, k if keep is None else k * 4)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        while True:
            scores, ids = part.index.search(query, fetch)
            found = [
                (part.start + int(i), float(s))
                for i, s in zip(ids[0], scores[0], strict=True)
                if i >= 0 and (keep is None or keep(part.start + int(i)))
            ]
            if len(found) >= k or fetch >= part.size:
                return found[:k]
            fetch = min(part.size, fetch * 4)

    def vector(self, row: int, route: str) -> np.ndarray:
        part = self.partitions[route]
        return np.asarray(part.index.reconstruct(row - part.start), dtype=np.float32)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = []
        for i, part in enumerate(self.partitions.values()):
            file = f"part-{i:04d}.faiss"
            faiss.write_index(part.index, str(directory / file))
            meta.append(
                {
                    "route": part.route,
                    "start": part.start,
                    "end": part.end,
                    "kind": part.kind,
                    "file": file,
                }
            )
        (directory / "partitions.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, directory: Path) -> PartitionedIndex:
        meta_path = directory / "partitions.json"
        try:
            meta = orjson.loads(meta_path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise StoreError(f"{meta_path}: cannot read the index description ({exc})") from None
        partitions = []
        for item in meta:
            path = directory / item["file"]
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as exc:
                raise StoreError(f"{path}: cannot read FAISS index ({exc})") from None
            if isinstance(index, faiss.IndexHNSWFlat):
                index.hnsw.efSearch = 64
            elif isinstance(index, faiss.IndexIVF):
                index.nprobe = ivf_nprobe(index.nlist)
                index.make_direct_map()
            partitions.append(
                Partition(item["route"], item["start"], item["end"], item["kind"], index)
            )
        return cls(partitions)

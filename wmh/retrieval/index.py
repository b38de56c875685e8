"""FAISS indexes over the training steps, one partition per tool (and one for messages).

Partitioning by tool keeps each query to the steps that can answer it, so a query never scans the
whole corpus. Small partitions use an exact inner-product index; large ones IVF with 8-bit
scalar-quantised vectors (quick to build, a quarter of the memory) or HNSW. A build embeds and
adds a chunk of rows at a time (an IVF index is trained on a tool's first chunk), so its memory
follows the chunk, not the corpus or the largest tool.
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
CHUNK = 16384  # rows embedded and added at a time
# An IVF search expected to scan at least this many codes shares its probed lists among the
# cores: on two cores a million-row index's tool (about 12,000 codes a query) answers in 1.5 ms
# instead of 2.8, 1,300 codes in 0.27 instead of 0.40; a few hundred gain little over OpenMP's
# start-up (`bench/bench_retrieval.py`).
PARALLEL_SCAN = 1024
# A flat partition scores a query with at most 1/6 of its dimensions non-zero from those
# dimensions alone: a gather of rows of the transposed vectors, 6x quicker than the whole
# product at 80 of 1,024 (a 100k-step corpus's short calls: step p50 0.65 -> 0.52 ms, the same
# answers); with more, the gather costs more than the product saves.
SPARSE_QUERY = 6
# A flat partition whose rows share vectors (`groups`) scores each of its rows from its vector's
# score and cuts once when it has at most this many rows: a dozen numpy calls fewer than cutting
# the vectors, then their rows (gaia2's held-out steps: p50 0.34 -> 0.31 ms, the same answers).
# Past about 3,500 rows the work over every row costs more than the calls it saves (a review's
# timing: 24 against 52 us at 1,024 rows, 61 against 54 at 4,096). Without groups, rows are the
# vectors, and every size scores them so.
ROWS_SCORED = 2048
MAX_SEARCH_THREADS = 8


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the host's count), within
    `OMP_NUM_THREADS` when set."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        usable = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if limit.isdigit() and int(limit) > 0:
        usable = min(usable, int(limit))
    return max(1, usable)


def search_cores() -> int:
    """The threads one large search may use: `usable_cores`, at most 8. (Not
    `omp_get_max_threads()`: that answers what the last search set.)"""
    return min(usable_cores(), MAX_SEARCH_THREADS)


# Which of some rows (an array of row numbers) a search may return: a boolean array.
Keep = Callable[[np.ndarray], np.ndarray]


@dataclass(slots=True)
class Partition:
    route: str
    start: int  # rows [start, end) of the step table belong to this route
    end: int
    kind: str
    index: faiss.Index
    # Per row of the partition, which indexed vector is its own (None: one vector per row).
    # Rows of the very same call share one vector: a corpus repeats its calls, and a search
    # then scores each distinct call once, not once per recording.
    groups: np.ndarray | None = None
    # A flat index's vectors, viewed in place: one matrix product answers a query without the
    # per-call cost of FAISS's wrappers, which dominates at these sizes.
    matrix: np.ndarray | None = None
    # The same by dimension (a copy, made by the first sparse query: a short call hashes into a
    # few of the dimensions, and is scored from the rows of its own dimensions alone).
    columns: np.ndarray | None = None
    # With groups: the rows of each vector, grouped (`members[bounds[g]:bounds[g + 1]]`).
    members: np.ndarray | None = None
    bounds: np.ndarray | None = None
    threads: int = 1  # OpenMP threads a search uses

    def __post_init__(self) -> None:
        if isinstance(self.index, faiss.IndexFlat) and self.index.ntotal:
            xb = faiss.rev_swig_ptr(self.index.get_xb(), self.index.ntotal * self.index.d)
            self.matrix = np.asarray(xb).reshape(self.index.ntotal, self.index.d)
        if self.groups is not None:
            self.members = np.argsort(self.groups, kind="stable")
            counts = np.bincount(self.groups, minlength=self.index.ntotal)
            self.bounds = np.concatenate(([0], np.cumsum(counts)))
        self.share_scan()

    def probe(self, lists: int) -> None:
        """Probe this many IVF lists a search (and share them among the cores if that is enough
        to scan)."""
        if isinstance(self.index, faiss.IndexIVF):
            self.index.nprobe = lists
        self.share_scan()

    def share_scan(self) -> None:
        """Whether a search spreads the IVF lists it probes over the cores."""
        index = self.index
        self.threads = 1
        cores = search_cores()
        if isinstance(index, faiss.IndexIVF) and index.nlist:
            shared = cores > 1 and index.nprobe * index.ntotal / index.nlist >= PARALLEL_SCAN
            index.parallel_mode = 1 if shared else 0  # 1: one query's lists among the threads
            self.threads = cores if shared else 1

    @property
    def size(self) -> int:
        return self.end - self.start

    def top(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """At least `fetch` (row within the partition, score), best first, ties by row: every
        row tied with the last one is included, so the cut never depends on the search."""
        if self.matrix is not None and (self.groups is None or len(self.groups) <= ROWS_SCORED):
            return self._top_rows(query, fetch)
        found, values = self._nearest(query, min(fetch, self.index.ntotal))
        if self.members is not None and self.bounds is not None:
            found, values = self._rows_of(found, values, fetch)
        order = np.lexsort((found, -np.round(values, 6)))
        return found[order], values[order]

    def _top_rows(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """`top` of a flat partition, every row scored (by its vector's score), then cut and
        ordered once: the same rows, scores and order as cutting the vectors, then their rows."""
        values = self._scores(query)
        if self.groups is not None:
            values = values[self.groups]
        rounded = np.round(values, 6)
        if fetch < len(values):
            found = np.flatnonzero(_tied_best(rounded, fetch))
        else:
            found = np.arange(len(values))
        found = found[np.lexsort((found, -rounded[found]))]
        return found, values[found]

    def _scores(self, query: np.ndarray) -> np.ndarray:
        """A flat partition's score of every indexed vector."""
        assert self.matrix is not None
        # Counted first: listing the non-zero dimensions of a long call's query (hundreds of
        # them) cost a third of a small partition's product (6 of 17 us on swe-bench's).
        if np.count_nonzero(query) * SPARSE_QUERY <= len(query):
            used = np.flatnonzero(query)
            columns = self.columns
            if columns is None:
                columns = self.columns = np.ascontiguousarray(self.matrix.T)
            return query[used] @ columns[used]
        return self.matrix @ query

    def _nearest(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """At least `fetch` indexed vectors and their scores; from a flat index every one tied
        with the last (to 6 decimals, as results are ordered), so a search for fewer is the
        first rows of a search for more (FAISS's approximate indexes cut exact ties anywhere).
        (A flat partition comes here only with more than `ROWS_SCORED` rows sharing vectors.)"""
        if self.matrix is None:
            scores, ids = self.index.search(query.reshape(1, -1), fetch)
            valid = ids[0] >= 0
            return ids[0][valid], scores[0][valid]
        all_scores = self._scores(query)
        if fetch < len(all_scores):
            return _tied_cut(np.arange(len(all_scores)), all_scores, fetch)
        return np.arange(len(all_scores)), all_scores

    def _rows_of(
        self, vectors: np.ndarray, scores: np.ndarray, fetch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the found vectors, cut as a search over every row would: at least
        `fetch` of them, and every row tied with the last."""
        assert self.members is not None and self.bounds is not None
        starts, ends = self.bounds[vectors], self.bounds[vectors + 1]
        counts = ends - starts
        rows = self.members[np.repeat(ends - counts.cumsum(), counts) + np.arange(counts.sum())]
        values = np.repeat(scores, counts)
        if fetch < len(values):
            return _tied_cut(rows, values, fetch)
        return rows, values


def _tied_cut(found: np.ndarray, values: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
    """The `fetch` best and every one tied with the last, ties at 6 decimals (as `top` orders
    them: rows 1e-7 apart are a tie there, and must be one here)."""
    kept = _tied_best(np.round(values, 6), fetch)
    return found[kept], values[kept]


def _tied_best(rounded: np.ndarray, fetch: int) -> np.ndarray:
    """Which of the scores (rounded to 6 decimals) are among the `fetch` best or tied with the
    last of them (`fetch` < their number)."""
    cut = np.partition(rounded, len(rounded) - fetch)[len(rounded) - fetch]
    return rounded >= cut


def ivf_nprobe(nlist: int) -> int:
    """Lists probed per query: about an eighth of them, at least 8."""
    return min(nlist, max(8, nlist // 8))


def _choose_kind(kind: str, size: int, flat_max: int) -> str:
    if kind not in INDEX_KINDS:
        raise ConfigError(f"retrieval.index must be one of {', '.join(INDEX_KINDS)}, got '{kind}'")
    if kind != "auto":
        return kind
    return "flat" if size <= flat_max else "ivf"


def _new_index(dim: int, size: int, kind: str, seed: int, sample: np.ndarray) -> faiss.Index:
    """An empty index for `size` rows (an IVF one trained on `sample`)."""
    if kind == "flat" or size < 64:
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 40
        hnsw.hnsw.efSearch = 64
        return hnsw
    nlist = max(8, int(math.sqrt(size)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.seed = seed
    index.cp.niter = 10  # a coarse quantizer is enough to prune; keeps builds fast
    index.train(sample)
    index.nprobe = ivf_nprobe(nlist)
    return index


def _build_partition(
    block: Callable[[int, int], np.ndarray],
    start: int,
    end: int,
    kind: str,
    seed: int,
    size: int,
) -> faiss.Index:
    """The `size` indexed rows of [start, end), embedded and added `CHUNK` rows of the table at
    a time (an IVF index is trained on the first chunk's), so a big tool's memory is a chunk's,
    not the whole partition's. `block(a, b)` gives the vectors of the indexed rows of [a, b)."""
    index: faiss.Index | None = None
    for chunk in range(start, end, CHUNK):
        vectors = block(chunk, min(end, chunk + CHUNK))
        if not len(vectors):  # every row of the chunk repeats a call made before it
            continue
        if index is None:
            index = _new_index(vectors.shape[1], size, kind, seed, vectors)
        index.add(vectors)
    assert index is not None and index.ntotal == size, "vectors gave other rows than indexed"
    return index


def _grouped(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(per row, its group numbered by first appearance; the first row of each group), or None
    when every row is its own group."""
    _, firsts, inverse = np.unique(groups, return_index=True, return_inverse=True)
    if len(firsts) == len(groups):
        return None
    order = np.argsort(firsts, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[inverse.reshape(-1)], firsts[order]


class PartitionedIndex:
    """Routes -> FAISS indexes over contiguous row ranges of a route-sorted step table."""

    def __init__(self, partitions: Sequence[Partition]) -> None:
        self.partitions = {p.route: p for p in partitions}

    @classmethod
    def build(
        cls,
        vectors: np.ndarray | Callable[[int, int], np.ndarray],
        routes: Sequence[str],
        kind: str = "auto",
        flat_max: int = 4096,
        seed: int = 0,
        groups: Sequence[int] | np.ndarray | None = None,
    ) -> PartitionedIndex:
        """`routes` must be sorted so each route's rows are contiguous. `vectors` holds a row per
        step, or embeds rows [start, end) when called (at most `CHUNK` rows at a time). Rows
        with the same `groups` number have the same vector (the same call): it is indexed once,
        and a partition is sized by its distinct calls; called, `vectors` then gives only the
        vectors of the rows of [start, end) that are the first of their group, in row order
        (`first_rows`)."""
        faiss.omp_set_num_threads(usable_cores())  # training and adding
        numbers = None if groups is None else np.asarray(groups)
        indexed = np.ones(len(routes), dtype=bool)  # per row, whether its vector is indexed

        def block(start: int, end: int) -> np.ndarray:
            if callable(vectors):
                raw = vectors(start, end)
            else:
                raw, kept = vectors[start:end], indexed[start:end]
                raw = raw if kept.all() else raw[kept]
            return np.ascontiguousarray(raw, dtype=np.float32)

        partitions = []
        start = 0
        for end in range(1, len(routes) + 1):
            if end == len(routes) or routes[end] != routes[start]:
                grouped = None if numbers is None else _grouped(numbers[start:end])
                row_group, firsts = grouped if grouped is not None else (None, None)
                if firsts is not None:
                    indexed[start:end] = False
                    indexed[start + firsts] = True
                size = end - start if firsts is None else len(firsts)
                chosen = _choose_kind(kind, size, flat_max)
                index = _build_partition(block, start, end, chosen, seed, size)
                partitions.append(Partition(routes[start], start, end, chosen, index, row_group))
                start = end
        return cls(partitions)

    def search(
        self,
        route: str,
        query: np.ndarray,
        k: int,
        keep: Keep | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows and their scores in a route, best first (ties by row); `keep(rows)` says
        which rows may be returned (leak-free)."""
        part = self.partitions.get(route)
        if part is None or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # One query is too small to share between threads (OpenMP's start-up would dominate),
        # except the scan of a large IVF partition's probed lists.
        faiss.omp_set_num_threads(part.threads)
        fetch = min(part.size, k if keep is None else 4 * k)
        query = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        while True:
            found, values = part.top(query, fetch)
            rows = found + part.start
            if keep is not None:
                kept = keep(rows)
                rows, values = rows[kept], values[kept]
            if len(rows) >= k or fetch >= part.size:
                return rows[:k], values[:k]
            fetch = min(part.size, fetch * 4)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = []
        for i, part in enumerate(self.partitions.values()):
            file = f"part-{i:04d}.faiss"
            faiss.write_index(part.index, str(directory / file))
            entry: dict[str, object] = {
                "route": part.route,
                "start": part.start,
                "end": part.end,
                "kind": part.kind,
                "file": file,
            }
            if part.groups is not None:
                entry["groups"] = groups_file = f"part-{i:04d}.groups.npy"
                np.save(directory / groups_file, part.groups, allow_pickle=False)
            meta.append(entry)
        (directory / "partitions.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, directory: Path) -> PartitionedIndex:
        meta_path = directory / "partitions.json"
        try:
            meta = orjson.loads(meta_path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise StoreError(f"{meta_path}: cannot read the index description ({exc})") from None
        keys = ("route", "start", "end", "kind", "file")
        if not isinstance(meta, list) or not all(
            isinstance(item, dict) and all(key in item for key in keys) for item in meta
        ):
            raise StoreError(
                f"{meta_path}: not a list of partitions ({', '.join(keys)}): the model "
                "directory is damaged"
            )
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
            groups = None
            if "groups" in item:  # written since rows of one call share a vector
                try:
                    groups = np.load(directory / item["groups"], allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise StoreError(f"{directory / item['groups']}: cannot read ({exc})") from None
                if len(groups) != item["end"] - item["start"]:
                    raise StoreError(
                        f"{directory / item['groups']} has {len(groups)} rows for a partition "
                        f"of {item['end'] - item['start']}: the model directory is damaged"
                    )
            partitions.append(
                Partition(item["route"], item["start"], item["end"], item["kind"], index, groups)
            )
        return cls(partitions)

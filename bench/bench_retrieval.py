"""Retrieval alone at a million indexed steps: index build time and memory, and query latency.

Calls of `--tools` tools with varied arguments (ids, paths, commands, words; a seeded draw, some
of them repeated as real corpora repeat calls) are embedded with the hashing embedder the build
uses, one partition at a time, into the same `PartitionedIndex` (IVF with 8-bit codes above
`retrieval.flat_max` rows per tool). Then `--queries` calls not in the index are searched for
their 5 nearest rows: the search alone, and embedding plus search, at p50/p99, beside a floor
measured in the same run (a dict lookup of a recorded call's text, what an exact replay costs).
Peak memory is the process's high-water RSS after the index is built. Then the same queries at
the default number of IVF lists probed, half and a quarter of it: latency and recall@k against
an exhaustive scan of the same codes (what the probing loses).

    python bench/bench_retrieval.py                      # 1M rows, 10 tools
    python bench/bench_retrieval.py --rows 100000 --out /tmp/r.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wmh.core.types import Action  # noqa: E402
from wmh.retrieval.embedders import make_embedder  # noqa: E402
from wmh.retrieval.index import PartitionedIndex  # noqa: E402
from wmh.retrieval.text import QueryText, action_text  # noqa: E402

WORDS = (
    "alpha beta gamma delta order user flight seat refund invoice cart address payment "
    "status build test deploy config cache index queue worker report export import"
).split()


def call(rng: np.random.Generator, tool: int) -> Action:
    """One call of tool `tool`: an id, a path, a command and a few words, drawn by `rng`."""
    return Action(
        name=f"tool_{tool:02d}",
        arguments={
            "id": f"#{rng.integers(0, 200_000):06d}",
            "path": "/".join(rng.choice(WORDS, size=rng.integers(1, 4)).tolist()) + ".py",
            "command": " ".join(rng.choice(WORDS, size=rng.integers(2, 6)).tolist()),
            "count": int(rng.integers(0, 100)),
        },
    )


def texts_of(rows: int, tool: int, seed: int) -> list[str]:
    """The action texts of one tool's rows; a tenth repeat an earlier call, as corpora do."""
    rng = np.random.default_rng([seed, tool])
    texts: list[str] = []
    for _ in range(rows):
        if texts and rng.random() < 0.1:
            texts.append(texts[int(rng.integers(0, len(texts)))])
        else:
            texts.append(action_text(call(rng, tool)))
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tools", type=int, default=10)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "retrieval.json")
    args = parser.parse_args()

    embedder = make_embedder("hashing", args.dim)
    per_tool = args.rows // args.tools
    routes = [f"tool_{t:02d}" for t in range(args.tools) for _ in range(per_tool)]
    rss_before = peak_rss_mb()
    embed_s = 0.0

    def vectors(start: int, end: int) -> np.ndarray:
        nonlocal embed_s
        tool = start // per_tool
        began = time.perf_counter()
        block = embedder.embed([QueryText(t, "") for t in texts_of(end - start, tool, 1)])
        embed_s += time.perf_counter() - began
        return block

    began = time.perf_counter()
    index = PartitionedIndex.build(vectors, routes)
    build_s = time.perf_counter() - began
    rss_after = peak_rss_mb()
    kinds = sorted({p.kind for p in index.partitions.values()})

    rng = np.random.default_rng(2)
    queries = [call(rng, int(rng.integers(0, args.tools))) for _ in range(args.queries)]
    recorded = {text: i for i, text in enumerate(texts_of(args.queries, 0, 1))}
    probe = list(recorded)
    search_s: list[float] = []
    total_s: list[float] = []
    for action in queries:
        began = time.perf_counter()
        vector = embedder.embed([QueryText(action_text(action), "")])[0]
        middle = time.perf_counter()
        rows, _ = index.search(action.name, vector, args.k)
        ended = time.perf_counter()
        assert len(rows) == args.k
        search_s.append(ended - middle)
        total_s.append(ended - began)
    # The probing's loss: each query's top k against an exhaustive scan of the same codes, at
    # the default number of lists probed and fewer.
    probes: list[dict[str, float]] = []
    ivf = [p for p in index.partitions.values() if p.kind == "ivf"]
    if ivf:
        default = [p.index.nprobe for p in ivf]
        vectors_of = [embedder.embed([QueryText(action_text(a), "")])[0] for a in queries]
        exhaustive = []
        for part in ivf:
            part.probe(part.index.nlist)
        for action, vector in zip(queries, vectors_of, strict=True):
            exhaustive.append(set(index.search(action.name, vector, args.k)[0].tolist()))
        for share in (1, 2, 4):
            timed: list[float] = []
            found = 0
            for part, base in zip(ivf, default, strict=True):
                part.probe(max(1, base // share))
            for action, vector, truth in zip(queries, vectors_of, exhaustive, strict=True):
                began = time.perf_counter()
                rows, _ = index.search(action.name, vector, args.k)
                timed.append(time.perf_counter() - began)
                found += len(truth & set(rows.tolist()))
            probes.append(
                {
                    "nprobe": ivf[0].index.nprobe,
                    "nlist": ivf[0].index.nlist,
                    "search_p50_ms": round(percentile(timed, 50), 4),
                    "search_p99_ms": round(percentile(timed, 99), 4),
                    "recall_vs_exhaustive": round(found / (args.k * len(queries)), 4),
                }
            )
        for part, base in zip(ivf, default, strict=True):
            part.probe(base)
    floor_s: list[float] = []
    for text in probe:
        began = time.perf_counter()
        recorded.get(text)
        floor_s.append(time.perf_counter() - began)

    result = {
        "rows": per_tool * args.tools,
        "tools": args.tools,
        "dim": args.dim,
        "index_kinds": kinds,
        "embed_s": round(embed_s, 2),
        "index_build_s": round(build_s - embed_s, 2),
        "build_s": round(build_s, 2),
        "peak_rss_mb": round(rss_after),
        "rss_before_mb": round(rss_before),
        "search_p50_ms": round(percentile(search_s, 50), 4),
        "search_p99_ms": round(percentile(search_s, 99), 4),
        "embed_and_search_p50_ms": round(percentile(total_s, 50), 4),
        "embed_and_search_p99_ms": round(percentile(total_s, 99), 4),
        "floor_p50_ms": round(percentile(floor_s, 50), 5),
        "cpus": os.cpu_count(),
        "probes": probes,
    }
    result["search_p99_over_floor"] = round(
        result["search_p99_ms"] / max(result["floor_p50_ms"], 1e-9)
    )
    print(
        f"{result['rows']:,} rows in {args.tools} tools ({', '.join(kinds)}): built in "
        f"{result['build_s']} s (embedding {result['embed_s']} s), peak RSS "
        f"{result['peak_rss_mb']} MB\n"
        f"search top-{args.k}: p50 {result['search_p50_ms']} ms, p99 "
        f"{result['search_p99_ms']} ms; embed + search p50 {result['embed_and_search_p50_ms']} "
        f"ms, p99 {result['embed_and_search_p99_ms']} ms; floor (dict lookup) p50 "
        f"{result['floor_p50_ms']} ms"
    )
    for probe in probes:
        print(
            f"  probing {probe['nprobe']} of {probe['nlist']} lists: search p50 "
            f"{probe['search_p50_ms']} ms, p99 {probe['search_p99_ms']} ms, recall@{args.k} "
            f"{probe['recall_vs_exhaustive']} of an exhaustive scan"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

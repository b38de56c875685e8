"""Benchmark the offline core: build time by stage, peak memory, model load and replay step latency.

Generates synthetic corpora (10 steps per trace) at the requested sizes and, for each embedder,
builds a model with `wmh build` in a child process (its wall time from start to exit; peak RSS
of the build, and of it and its MLflow side process together), then loads it and steps it
in-process. Every figure is printed beside a floor measured in the same run on the same machine:
parsing the corpus with orjson (for builds) and a dict lookup of a recorded observation (for steps).

    python bench/bench_core.py --sizes 10000 100000 --embedders hashing minilm \
        --minilm-max 10000 --out bench/results/core.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BUILD_CHILD = """
import json, resource, sys
from pathlib import Path
from wmh.cli.app import main
name, root, corpus, embedder = sys.argv[1:5]
sys.argv = ["wmh", "build", "--name", name, "--root", root, "--file", corpus,
            "-o", f"embedder={embedder}", "--no-interactive"]
try:
    main()
except SystemExit as exc:  # click ends every command with one
    if exc.code:
        raise
metrics = json.loads((Path(root) / "models" / name / "metrics.json").read_bytes())
heldout = metrics["heldout"]  # none for a corpus too small to hold traces out
print(json.dumps({"steps": metrics["ingest"]["steps"],
                  "heldout": heldout["overall"]["score"] if heldout else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def parse_floor(corpus: Path) -> float:
    start = time.perf_counter()
    with corpus.open("rb") as lines:
        for line in lines:
            orjson.loads(line)
    return time.perf_counter() - start


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants now, from Linux's /proc (the children
    of each process's main thread, which is where it starts them; 0 where /proc is absent)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # gone since it was listed
            continue
        rss = (line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        total += int(next(rss, 0))
        pending.extend(int(c) for c in children)
    return total / 1024


def build(name: str, root: Path, corpus: Path, embedder: str) -> dict:
    """`wmh build` in a child process, as a user runs it: its wall time from start to exit
    (start-up, imports and the end included), the stage times it prints, the peak RSS of the
    build process, and the peak of it and its MLflow side process together (sampled every
    20 ms)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", BUILD_CHILD, name, str(root), str(corpus), embedder],
            stdout=out,
            stderr=err,
            cwd=ROOT,
        )
        together = 0.0
        while child.poll() is None:
            together = max(together, _tree_rss_mb(child.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        printed, errors = out.read().decode(), err.read().decode()
    if child.returncode:
        raise SystemExit(f"wmh build failed ({child.returncode}):\n{errors[-2000:]}")
    lines = printed.strip().splitlines()
    stages = {}
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[1:3] == ["done", "in"]:  # "ingest done in 2.66s"
            stages[f"{words[0]}_s"] = float(words[3].rstrip("s"))
    return {**json.loads(lines[-1]), "timings": stages, "total_s": wall, "tree_rss_mb": together}


def step_latency(model_dir: Path, samples: int, seed: int) -> dict:
    from wmh.core.types import Action, Step
    from wmh.store.card import read_card  # noqa: F401  (import outside the timed region)
    from wmh.store.loader import load_world_model

    start = time.perf_counter()
    wm, _ = load_world_model(model_dir)
    load_s = time.perf_counter() - start

    held_out = [
        Step.model_validate_json(line)
        for line in (model_dir / "steps" / "test.jsonl").read_bytes().splitlines()
        if line
    ]
    rng = random.Random(seed)
    actions = []
    for _ in range(samples):
        step = rng.choice(held_out)
        action = step.action
        if rng.random() < 0.5 and action.arguments:  # unseen argument values: adapted neighbours
            key = next(iter(action.arguments))
            value = action.arguments[key]
            if isinstance(value, int):
                action = Action(
                    name=action.name, arguments={**action.arguments, key: value + 100000}
                )
        actions.append((step.task, action))
    timings: list[float] = []
    sources: dict[str, int] = {}
    session_id = ""
    for i, (task, action) in enumerate(actions):
        if i % 10 == 0:
            session_id = wm.new_session(task=task).id
        t0 = time.perf_counter()
        observation = wm.step(session_id, action)
        timings.append((time.perf_counter() - t0) * 1000)
        source = str(observation.metadata.get("source"))
        sources[source] = sources.get(source, 0) + 1

    table = {s.action.key(): s.observation for s in held_out}
    keys = [rng.choice(held_out).action.key() for _ in range(samples)]
    floor = []
    for key in keys:
        t0 = time.perf_counter()
        table[key].model_copy()
        floor.append((time.perf_counter() - t0) * 1000)
    p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
    f50 = percentile(floor, 0.5)
    return {
        "load_s": load_s,
        "step_p50_ms": p50,
        "step_p99_ms": p99,
        "floor_p50_ms": f50,
        "step_p50_over_floor": p50 / f50 if f50 else None,
        "sources": sources,
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--embedders", nargs="+", default=["hashing", "minilm"])
    parser.add_argument(
        "--minilm-max",
        type=int,
        default=10_000,
        help="largest corpus to embed with MiniLM (about 300 strings/s here)",
    )
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "core.json")
    args = parser.parse_args()

    from wmh.ingest.synthetic import write_corpus

    rows = []
    with tempfile.TemporaryDirectory(prefix="wmh-bench-") as tmp:
        work = Path(tmp)
        for size in args.sizes:
            corpus = write_corpus(work / f"corpus-{size}.jsonl", traces=size // 10, seed=1)
            floor_s = parse_floor(corpus)
            for embedder in args.embedders:
                if embedder == "minilm" and size > args.minilm_max:
                    continue
                name = f"bench-{embedder}-{size}"
                built = build(name, work / "store", corpus, embedder)
                steps = step_latency(work / "store" / "models" / name, args.samples, seed=size)
                t = built["timings"]
                row = {
                    "size": size,
                    "embedder": embedder,
                    "steps": built["steps"],
                    "build_s": built["total_s"],
                    "ingest_s": t["ingest_s"],
                    "split_s": t["split_s"],
                    "embed_s": t["embed_s"],
                    "index_s": t["index_s"],
                    "fit_s": t.get("fit_s", 0.0),
                    "evaluate_s": t["evaluate_s"],
                    "write_s": t["write_s"],
                    "peak_rss_mb": built["peak_rss_mb"],
                    "with_side_rss_mb": built["tree_rss_mb"],
                    "parse_floor_s": floor_s,
                    "build_over_parse_floor": built["total_s"] / floor_s,
                    "embed_strings_per_s": built["steps"] * 0.8 / t["embed_s"],
                    "heldout": built["heldout"],
                    **steps,
                }
                rows.append(row)
                print_row(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"python": sys.version.split()[0], "cpus": os.cpu_count(), "rows": rows}, indent=2
        )
    )
    print(f"\nwrote {args.out}")


HEADER = (
    "size",
    "embedder",
    "build_s",
    "ingest",
    "embed",
    "index",
    "fit",
    "eval",
    "peak_MB",
    "+side_MB",
    "xparse",
    "emb/s",
    "load_s",
    "p50_ms",
    "p99_ms",
    "xfloor",
    "heldout",
)


def print_row(row: dict) -> None:
    if not getattr(print_row, "header_done", False):
        print(" ".join(f"{h:>9}" for h in HEADER))
        print_row.header_done = True  # type: ignore[attr-defined]
    values = (
        row["size"],
        row["embedder"],
        f"{row['build_s']:.2f}",
        f"{row['ingest_s']:.2f}",
        f"{row['embed_s']:.2f}",
        f"{row['index_s']:.2f}",
        f"{row['fit_s']:.2f}",
        f"{row['evaluate_s']:.2f}",
        f"{row['peak_rss_mb']:.0f}",
        f"{row['with_side_rss_mb']:.0f}",
        f"{row['build_over_parse_floor']:.1f}",
        f"{row['embed_strings_per_s']:.0f}",
        f"{row['load_s']:.3f}",
        f"{row['step_p50_ms']:.3f}",
        f"{row['step_p99_ms']:.3f}",
        f"{row['step_p50_over_floor']:.0f}",
        "-" if row["heldout"] is None else f"{row['heldout']:.3f}",
    )
    print(" ".join(f"{v:>9}" for v in values), flush=True)


if __name__ == "__main__":
    main()

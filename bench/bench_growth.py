"""Benchmark how a loaded model's memory grows while it serves: RSS as steps touch more of a corpus.

Builds a model of a synthetic corpus (10 steps per trace) with `wmh build` (as bench_core.py
does), loads it in this process, and steps held-out actions, most with an argument value changed
so that each asks a call no recording holds (sessions of ten steps, as an agent might). Prints
the RSS after loading (the floor) and after every quarter of the steps, the growth over the floor,
and the rows the step table holds parsed; then the same after `tool_schemas()`, which reads every
row once. What it shows is whether a long-running server's memory levels off (its caches are
bounded) or keeps growing with the rows it has answered from.

    python bench/bench_growth.py --size 100000 --steps 60000 --out bench/results/growth.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def parsed_rows(table: object) -> int:
    """Rows the table holds parsed (its kept parses, or, in code before the bound, its dict)."""
    parse = getattr(table, "_parse", None)
    held = len(getattr(table, "_parsed", {}))
    return held + (parse.cache_info().currsize if parse is not None else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="steps in the corpus")
    parser.add_argument("--steps", type=int, default=60_000, help="steps served")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "growth.json")
    args = parser.parse_args()

    from bench_core import build

    from wmh.core.types import Action, Step
    from wmh.ingest.synthetic import write_corpus
    from wmh.store.loader import load_world_model

    with tempfile.TemporaryDirectory(prefix="wmh-bench-growth-") as tmp:
        work = Path(tmp)
        corpus = write_corpus(work / "corpus.jsonl", traces=args.size // 10, seed=1)
        build("growth", work / "store", corpus, "hashing")
        model_dir = work / "store" / "models" / "growth"
        held_out = [
            Step.model_validate_json(line)
            for part in ("test", "valid")
            for line in (model_dir / "steps" / f"{part}.jsonl").read_bytes().splitlines()
            if line
        ]
        wm, _ = load_world_model(model_dir)
        table = wm.retriever.table  # type: ignore[attr-defined]
        floor = rss_mb()
        rng = random.Random(0)
        points = []
        session_id = ""
        started = time.perf_counter()
        for i in range(1, args.steps + 1):
            step = rng.choice(held_out)
            action = step.action
            if action.arguments and rng.random() < 0.7:  # a call no recording holds
                key = next(iter(action.arguments))
                value = action.arguments[key]
                changed = (
                    value + rng.randrange(1, 10**6) if isinstance(value, int) else f"{value}-{i}"
                )
                action = Action(name=action.name, arguments={**action.arguments, key: changed})
            if i % 10 == 1:
                if session_id:
                    wm.close_session(session_id)
                session_id = wm.new_session(task=step.task).id
            wm.step(session_id, action)
            if i % (args.steps // 4) == 0 or i == args.steps:
                points.append(
                    {"steps": i, "rss_mb": round(rss_mb(), 1), "parsed_rows": parsed_rows(table)}
                )
        served_s = time.perf_counter() - started
        wm.tool_schemas()
        schemas = {"rss_mb": round(rss_mb(), 1), "parsed_rows": parsed_rows(table)}

    result = {
        "size": args.size,
        "table_rows": len(table),
        "floor_rss_mb": round(floor, 1),
        "served_s": round(served_s, 1),
        "points": points,
        "after_tool_schemas": schemas,
    }
    print(f"corpus {args.size} steps, {len(table)} rows; RSS after loading (floor) {floor:.0f} MB")
    print(f"{'steps served':>12} {'RSS MB':>8} {'growth MB':>10} {'rows parsed':>12}")
    for point in points:
        print(
            f"{point['steps']:>12} {point['rss_mb']:>8.0f} {point['rss_mb'] - floor:>10.0f} "
            f"{point['parsed_rows']:>12}"
        )
    print(
        f"{'+ schemas':>12} {schemas['rss_mb']:>8.0f} {schemas['rss_mb'] - floor:>10.0f} "
        f"{schemas['parsed_rows']:>12}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

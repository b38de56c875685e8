"""Benchmark how a loaded model's memory grows while it serves: RSS as steps touch more of a corpus.

Builds a model of a synthetic corpus (10 steps per trace) with `wmh build` (as bench_core.py
does), loads it in this process, and steps the actions of its test traces (held out: not in its
index), most with an argument value changed so that each asks a call no recording holds
(sessions of ten steps, as an agent might). After 1,000 steps that warm it up, it takes the RSS
as the floor, then prints the RSS after every quarter of the steps, the growth over the floor,
the rows the step table holds parsed and the entries of the step's other caches; then the same
after `tool_schemas()`, which reads every row once. What it shows is whether a long-running
server's memory levels off (its caches are bounded) or keeps growing with the rows it has
answered from.

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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


WARM_UP = 1_000


def cache_entries(wm: Any, table: Any) -> dict[str, int]:
    """What each cache of a served step holds: the rows the step table holds parsed (its kept
    parses, or, in code before the bound, its dict), the query vectors, the n-gram hashes of
    call texts, the history vectors of calls, the answer signatures and the calls'
    tokens that adapting an answer splits them into."""
    from wmh.engine import adapt
    from wmh.retrieval import context, hashing

    parse = getattr(table, "_parse", None)
    rows = len(getattr(table, "_parsed", {})) + (parse.cache_info().currsize if parse else 0)
    return {
        "rows_parsed": rows,
        "query_vectors": len(wm.retriever._embed_text),
        "ngram_hashes": len(hashing._ngram_hashes),
        "history_vecs": len(context._action_vector),
        "signatures": len(wm.predictor._signatures),
        "searches": len(wm.retriever._searched),
        "agreements": len(wm.predictor._agreements),
        "answers_alike": len(table._alike),
        "argument_tokens": len(adapt._tokens),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="steps in the corpus")
    parser.add_argument("--steps", type=int, default=60_000, help="steps served")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "growth.json")
    args = parser.parse_args()
    if args.steps < 4:
        parser.error("--steps must be at least 4 (the RSS is read at each quarter)")

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
            for line in (model_dir / "steps" / "test.jsonl").read_bytes().splitlines()
            if line
        ]
        wm, _ = load_world_model(model_dir)
        table = wm.retriever.table  # type: ignore[attr-defined]
        rng = random.Random(0)
        session = ""

        def serve(count: int, first: int) -> None:
            nonlocal session
            for i in range(first, first + count):
                step = rng.choice(held_out)
                action = step.action
                if action.arguments and rng.random() < 0.7:  # a call no recording holds
                    key = next(iter(action.arguments))
                    value = action.arguments[key]
                    number = isinstance(value, int) and not isinstance(value, bool)
                    changed = value + rng.randrange(1, 10**6) if number else f"{value}-{i}"
                    action = Action(name=action.name, arguments={**action.arguments, key: changed})
                if i % 10 == 0:
                    if session:
                        wm.close_session(session)
                    session = wm.new_session(task=step.task).id
                wm.step(session, action)

        def point(steps: int | str) -> dict:
            return {"steps": steps, "rss_mb": round(rss_mb(), 1), **cache_entries(wm, table)}

        serve(WARM_UP, 0)
        floor = rss_mb()
        points = []
        quarter = args.steps // 4
        started = time.perf_counter()
        served = 0
        for done in (quarter, 2 * quarter, 3 * quarter, args.steps):
            serve(done - served, WARM_UP + served)
            served = done
            points.append(point(done))
        served_s = time.perf_counter() - started
        wm.close_session(session)
        wm.tool_schemas()
        points.append(point("then tool_schemas()"))

    result = {
        "size": args.size,
        "table_rows": len(table),
        "warm_up_steps": WARM_UP,
        "floor_rss_mb": round(floor, 1),
        "served_s": round(served_s, 1),
        "points": points,
    }
    names = [name for name in points[0] if name not in ("steps", "rss_mb")]
    print(
        f"corpus {args.size} steps, {len(table)} rows; RSS after {WARM_UP} warm-up steps (the "
        f"floor) {floor:.0f} MB; entries held by each cache:"
    )
    print(
        f"{'steps served':>20} {'RSS MB':>7} {'growth MB':>9} "
        + " ".join(f"{n:>13}" for n in names)
    )
    for row in points:
        cells = " ".join(f"{row[n]:>13}" for n in names)
        print(f"{row['steps']:>20} {row['rss_mb']:>7.0f} {row['rss_mb'] - floor:>9.0f} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

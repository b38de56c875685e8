"""Benchmark in-process replay steps with many live sessions: the HTTP benchmark's workload
without HTTP.

N sessions step in turn through the held-out actions of a model (each session starting at a
different offset, as bench_http.py's agents do), so the same calls recur across sessions and
histories grow. Reported per step (min and median of the repeats) beside a floor measured in the
same run: a dict lookup of the recorded observation by action key.

    python bench/bench_sessions.py --root examples/airline --model airline --sessions 64 \
        --out bench/results/sessions.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "examples" / "airline")
    parser.add_argument("--model", default="airline")
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4000, help="steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sessions.json")
    args = parser.parse_args()

    from wmh.store.loader import load_world_model
    from wmh.store.splits import agent_traces

    model_dir = args.root / "models" / args.model
    steps = [s for t in agent_traces(model_dir) for s in t.steps]
    actions = [s.action for s in steps]
    wm, _ = load_world_model(model_dir)
    per_step: list[float] = []
    for _ in range(args.repeats):
        sessions = [wm.new_session(task=f"agent {i}").id for i in range(args.sessions)]
        started = time.perf_counter()
        for k in range(args.steps):
            wm.step(sessions[k % args.sessions], actions[(k * 7) % len(actions)])
        per_step.append((time.perf_counter() - started) / args.steps * 1000)
        for session_id in sessions:
            wm.close_session(session_id)

    table = {s.action.key(): s.observation for s in steps}
    floor: list[float] = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for k in range(args.steps):
            table[actions[(k * 7) % len(actions)].key()].model_copy()
        floor.append((time.perf_counter() - started) / args.steps * 1000)

    row = {
        "model": args.model,
        "sessions": args.sessions,
        "steps_per_repeat": args.steps,
        "step_ms_min": min(per_step),
        "step_ms_median": statistics.median(per_step),
        "floor_ms_min": min(floor),
        "step_over_floor": min(per_step) / min(floor),
    }
    print(
        f"{'model':>10} {'sessions':>9} {'step_ms_min':>12} {'median':>8} {'floor_ms':>9} {'x':>6}"
    )
    print(
        f"{row['model']:>10} {row['sessions']:>9} {row['step_ms_min']:>12.3f} "
        f"{row['step_ms_median']:>8.3f} {row['floor_ms_min']:>9.4f} {row['step_over_floor']:>6.0f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": [row]}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark Redis session steps on the event loop, in process: steps/s of the airline replay model
over Redis sessions, a step taken in one round trip where the worker left the session (as served)
against the same steps always locked first (two round trips), beside in-memory sessions (the
floor: the same steps with no Redis at all), at 1 and 16 agents stepping at once.

No HTTP, so the figures move less than bench_http.py's; the configurations alternate within each
repeat, and the median of the repeats is reported. A throw-away redis-server on 127.0.0.1.

    python bench/bench_redis.py --repeats 6 --out bench/results/redis.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AGENTS = (1, 16)
SESSION_STEPS = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def steps_per_s(wm: Any, flat: list[Any], agents: int, sessions: int) -> float:
    """`agents` agents at once, each stepping `sessions` sessions of SESSION_STEPS held-out
    actions (cycling through them from its own offset, as bench_http.py's agents do)."""
    done = 0

    async def agent(i: int) -> None:
        nonlocal done
        steps = itertools.cycle(flat[(i * 7) % len(flat) :] + flat[: (i * 7) % len(flat)])
        for _ in range(sessions):
            sid = wm.new_session(task=f"agent {i}").id
            for _ in range(SESSION_STEPS):
                await wm.astep_with_state(sid, next(steps))
                done += 1
            wm.close_session(sid)

    started = time.perf_counter()
    await asyncio.gather(*(agent(i) for i in range(agents)))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "examples" / "airline")
    parser.add_argument("--model", default="airline")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--sessions", type=int, default=2, help="sessions per agent a repeat")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "redis.json")
    args = parser.parse_args()
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found: install it (make system-deps) to run this")

    from wmh.engine.sessions import InMemorySessionStore
    from wmh.errors import StoreError
    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.store.loader import load_world_model
    from wmh.store.splits import agent_traces

    model_dir = args.root / "models" / args.model
    flat = [s.action for t in agent_traces(model_dir) for s in t.steps]
    port = free_port()
    data = tempfile.mkdtemp(prefix="wmh-bench-redis-")
    redis = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", data],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        one_trip = LoopRedisSessionStore(url, "one-trip")
        locked = LoopRedisSessionStore(url, "locked")
        locked.clock_skewed = True  # how a store is told to lock first: never tries one trip
        models = {
            "memory": load_world_model(model_dir, InMemorySessionStore())[0],
            "redis, one trip": load_world_model(model_dir, one_trip)[0],
            "redis, locked": load_world_model(model_dir, locked)[0],
        }
        for _ in range(60):  # Redis answering before the first step
            try:
                one_trip.ping()
                break
            except StoreError:
                time.sleep(0.1)

        async def measure() -> dict[tuple[str, int], list[float]]:
            for wm in models.values():  # warm: connections, scripts, caches
                await steps_per_s(wm, flat, 4, 1)
            found: dict[tuple[str, int], list[float]] = {}
            for _ in range(args.repeats):
                for agents in AGENTS:
                    for name, wm in models.items():
                        rate = await steps_per_s(wm, flat, agents, args.sessions)
                        found.setdefault((name, agents), []).append(rate)
            return found

        found = asyncio.run(measure())
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(data, ignore_errors=True)

    rows = []
    for (name, agents), rates in found.items():
        floor = statistics.median(found[("memory", agents)])
        median = statistics.median(rates)
        rows.append(
            {
                "sessions": name,
                "agents": agents,
                "steps_per_s": round(median, 1),
                "vs_memory": round(median / floor, 2),
                "repeats": [round(r, 1) for r in rates],
            }
        )
    print(f"{'sessions':<18}{'agents':>7}{'steps/s':>10}{'x memory':>10}")
    for row in sorted(rows, key=lambda r: (r["agents"], r["sessions"])):
        print(
            f"{row['sessions']:<18}{row['agents']:>7}{row['steps_per_s']:>10.0f}"
            f"{row['vs_memory']:>10.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

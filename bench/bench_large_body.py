"""Benchmark: how long other requests wait while large bodies are being taken.

A body under `serve.max_body_bytes` (1 MB) can hold a third of a million small JSON values;
validating and storing them takes a good part of a second. This starts `wmh serve` (replay over
in-memory sessions, whose calls run on the event loop), then, for session creation and for a
step, sends `--concurrent` such bodies at once while a probe asks `/healthz` every 10 ms, and
reports the probe's p50 and max latency against the same probe on an idle server (the floor,
measured in the same run). JSON goes to `--out`.

Each `[]` is two JSON items (an element, and an empty array), so the default body holds 680,000
and is refused (413) by `serve.max_body_items` (100,000) before it is parsed; `--values 49000`
measures bodies just within that limit, which are taken.

    python bench/bench_large_body.py --out bench/results/large_body.json
    python bench/bench_large_body.py --values 49000 --out bench/results/large_body_taken.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_http import BIN, Proc, free_port, percentile  # noqa: E402


async def _probe(client: httpx.AsyncClient, stop: asyncio.Event, seen: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/healthz")
        seen.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)


async def run(url: str, model: str, values: int, concurrent: int) -> list[dict[str, Any]]:
    many = [[] for _ in range(values)]
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        base = f"/world_models/{model}/sessions"
        sid = (await client.post(base, json={"task": "t"})).json()["session_id"]
        idle: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(client, stop, idle))
        await asyncio.sleep(2.0)
        stop.set()
        await probe
        rows.append(_row("idle (floor)", 0, 0.0, [], idle, idle))
        bodies = {
            "create": (base, {"task": "t", "seed_state": {"records": many}}),
            "step": (
                f"{base}/{sid}/step",
                {"action": {"name": "bench", "arguments": {"records": many}}},
            ),
        }
        for label, (path, payload) in bodies.items():
            body = orjson.dumps(payload)
            seen: list[float] = []
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe(client, stop, seen))
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    client.post(path, content=body, headers={"content-type": "application/json"})
                    for _ in range(concurrent)
                )
            )
            took = time.perf_counter() - started
            stop.set()
            await probe
            statuses = sorted({a.status_code for a in answers})
            rows.append(_row(label, len(body), took, statuses, seen, idle, concurrent))
    return rows


def _row(
    label: str,
    size: int,
    took: float,
    statuses: list[int],
    seen: list[float],
    idle: list[float],
    concurrent: int = 0,
) -> dict[str, Any]:
    floor = percentile(idle, 0.5)
    return {
        "request": label,
        "body_bytes": size,
        "concurrent": concurrent,
        "statuses": statuses,
        "all_answered_s": round(took, 3),
        "healthz_probes": len(seen),
        "healthz_p50_ms": round(percentile(seen, 0.5) * 1000, 1),
        "healthz_max_ms": round(max(seen) * 1000, 1),
        "healthz_max_over_idle_p50": round(max(seen) / floor, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "examples" / "airline")
    parser.add_argument("--model", default="airline")
    parser.add_argument("--values", type=int, default=340_000, help="[] values in each body")
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "large_body.json")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "wmh"), "serve", "--root", str(args.root), "--name", args.model]
    proc = Proc([*argv, "--log-level", "warning", "--port", str(port)], f"{url}/healthz")
    try:
        rows = asyncio.run(run(url, args.model, args.values, args.concurrent))
    finally:
        proc.stop()
    for row in rows:
        print(row, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark serving over HTTP: steps/s and p50/p99 latency at 1, 16 and 64 concurrent sessions.

Servers run as their own processes on 127.0.0.1; the load client (asyncio) runs here, on
the same machine (aiohttp by default; --client httpx is the client TARGETS.md's echo figure
was measured with). Each simulated agent opens a session and steps the actions of held-out traces
of the model, one request at a time. Rows:

- `echo`: a bare FastAPI endpoint echoing the request body (bench/echo_app.py): the baseline;
- `replay/memory`: `wmh serve` with in-memory sessions;
- `replay/redis`: `wmh serve` with Redis sessions (a throw-away redis-server);
- `replay/redis x2`: the same with two uvicorn workers;
- `floor/memory`, `floor/redis`: the same server and sessions with every answer free
  (bench/floor_app.py): HTTP, routing, the session's lock, history and usage, and Redis's round
  trips, with no replay step; the most a replay row can reach;
- `llm/memory` (with --llm): a model whose provider is the scripted OpenAI-compatible server
  (tests/fake_llm.py, its own process), every step an LLM call; `p99_beyond_provider_ms` is the
  p99 of each step's latency less its provider call's (the `latency_s` wmh timed, which also
  holds any wait of the call's answer for the event loop).

Server memory is the RSS of the server's process tree after the 64-session run (the largest of
the rounds). Every server is started first, then measured in turn at each level, `--rounds` times
(each round in the other order); each figure is the median of the rounds', and `vs_echo` the
median of each round's ratio to the echo endpoint of the same round: the machine's speed drifts
by tens of percent over minutes, and a ratio of two rows measured minutes apart measured that.

    python bench/bench_http.py --seconds 8 --llm --out bench/results/http.json
    python bench/bench_http.py --seconds 8 --client httpx --out bench/results/http-httpx.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
LEVELS = (1, 16, 64)
SESSION_STEPS = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (uvicorn workers), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pending.extend(int(c) for c in children)
        except (OSError, StopIteration):
            continue
    return total / 1024


class Proc:
    def __init__(self, argv: list[str], ready_url: str, env: dict[str, str] | None = None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="wmh-bench-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            argv,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[:3]} exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                httpx.get(ready_url, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"{argv[:3]} did not start")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        Path(self.log.name).unlink(missing_ok=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AiohttpClient:
    def __init__(self, url: str, clients: int) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=clients))

    async def request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        async with self.session.request(method, path, json=body) as answer:
            if answer.status not in (200, 201, 204):
                raise RuntimeError(f"{path}: {answer.status} {(await answer.text())[:200]}")
            return await answer.json() if answer.status != 204 else None

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    def __init__(self, url: str, clients: int) -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)

    async def request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        answer = await self.client.request(method, path, json=body)
        if answer.status_code not in (200, 201, 204):
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
        return answer.json() if answer.status_code != 204 else None

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS = {"aiohttp": AiohttpClient, "httpx": HttpxClient}


async def load(
    url: str,
    model: str | None,
    actions: list[list[dict[str, Any]]],
    clients: int,
    seconds: float,
    kind: str = "aiohttp",
) -> tuple[list[float], list[float]]:
    """`clients` agents step for `seconds`; returns the latency of every step (seconds), and
    of every LLM step its latency beyond the provider call's own (as wmh timed the call).

    Each agent keeps one session for up to SESSION_STEPS steps (cycling through held-out
    traces), then deletes it and opens another, as a long-running agent would."""
    latencies: list[float] = []
    beyond: list[float] = []
    client = CLIENTS[kind](url, clients)
    flat = [a for trace in actions for a in trace]

    async def agent(i: int, stop_at: float, record: bool) -> None:
        steps = itertools.cycle(flat[(i * 7) % len(flat) :] + flat[: (i * 7) % len(flat)])
        while time.perf_counter() < stop_at:
            path = "/echo"
            if model is not None:
                created = await client.request(
                    "POST", f"/world_models/{model}/sessions", {"task": f"agent {i}"}
                )
                path = f"/world_models/{model}/sessions/{created['session_id']}/step"
            for _ in range(SESSION_STEPS):
                if time.perf_counter() >= stop_at:
                    break
                started = time.perf_counter()
                answer = await client.request("POST", path, {"action": next(steps)})
                if record:
                    latencies.append(time.perf_counter() - started)
                    provider = provider_seconds(answer)
                    if provider is not None:
                        beyond.append(latencies[-1] - provider)
            if model is not None:
                await client.request("DELETE", path.rsplit("/step", 1)[0], None)

    try:
        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(agent(i, warm, False) for i in range(clients)))
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(agent(i, stop, True) for i in range(clients)))
    finally:
        await client.close()
    return latencies, beyond


def provider_seconds(answer: Any) -> float | None:
    """The provider call's time of an LLM step's answer (its observation's `latency_s`)."""
    if not isinstance(answer, dict):
        return None
    metadata = (answer.get("observation") or {}).get("metadata") or {}
    seconds = metadata.get("latency_s")
    return float(seconds) if isinstance(seconds, int | float) else None


def summary(runs: list[dict[str, Any]], echo: list[dict[str, Any]]) -> dict[str, Any]:
    """One server at one level over the rounds: each figure the median of the rounds', and its
    ratio to the echo endpoint the median of each round's ratio to that round's echo."""
    ratios = [run["steps_per_s"] / e["steps_per_s"] for run, e in zip(runs, echo, strict=True)]
    row: dict[str, Any] = {"server": runs[0]["server"], "sessions": runs[0]["sessions"]}
    row["steps"] = sum(run["steps"] for run in runs)
    for key in ("steps_per_s", "p50_ms", "p99_ms", "mean_ms", "p99_beyond_provider_ms"):
        values = [run[key] for run in runs if key in run]
        if values:
            row[key] = round(statistics.median(values), 2)
    row["vs_echo"] = round(statistics.median(ratios), 2)
    row["vs_echo_rounds"] = [round(r, 2) for r in ratios]
    rss = [run["server_rss_mb"] for run in runs if "server_rss_mb" in run]
    if rss:
        row["server_rss_mb"] = max(rss)
    return row


def heldout_actions(model_dir: Path) -> list[list[dict[str, Any]]]:
    from wmh.store.splits import agent_traces

    traces = agent_traces(model_dir)
    return [[s.action.model_dump(mode="json") for s in t.steps] for t in traces if t.steps]


def build_llm_model(work: Path, fake_url: str) -> Path:
    from wmh.config.compose import compose_config, to_settings
    from wmh.pipeline.build import build_world_model

    settings = to_settings(
        compose_config(
            [
                "name=airline-llm",
                f"root={work}",
                f"data.files=[{ROOT / 'examples/airline/traces.otel.jsonl'}]",
                "provider=openai_compatible",
                "provider.model=openai/bench",
                f"provider.api_base={fake_url}",
                "provider.num_retries=0",
                "predictor.cache=false",
                "predictor.route=llm",  # the LLM on every tool: its cost is measured
                "track=false",
            ]
        )
    )
    return build_world_model(settings).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--root", type=Path, default=ROOT / "examples" / "airline")
    parser.add_argument("--model", default="airline")
    parser.add_argument("--llm", action="store_true", help="also the LLM path (fake provider)")
    parser.add_argument("--only", nargs="*", default=[], help="only these rows (and echo)")
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="aiohttp",
        help="load client: aiohttp (lighter, so the server is the bottleneck) or httpx",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="every server measured this many times, in turn; each figure is the median",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "http.json")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")

    actions = heldout_actions(args.root / "models" / args.model)
    work = Path(tempfile.mkdtemp(prefix="wmh-bench-http-"))
    servers: list[tuple[str, str, str | None, Proc]] = []  # label, url, model, process
    helpers: list[Proc | subprocess.Popen[bytes]] = []  # redis-server, the fake provider

    def wanted(label: str) -> bool:
        return not args.only or label in args.only

    def start(label: str, argv: list[str], model: str | None, ready: str = "/healthz") -> None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        servers.append((label, url, model, Proc([*argv, "--port", str(port)], url + ready)))

    def wmh_serve(label: str, root: Path, model: str, *extra: str) -> None:
        argv = [str(BIN / "wmh"), "serve", "--root", str(root), "--name", model]
        argv += ["--log-level", "warning", *extra]  # as the echo server: no access log
        start(label, argv, model)

    def floor_serve(label: str, *extra: str) -> None:
        argv = [sys.executable, str(ROOT / "bench" / "floor_app.py"), "--root", str(args.root)]
        start(label, [*argv, "--name", args.model, *extra], args.model)

    try:
        # Every server is started first and measured in turn, level by level, round after
        # round (each round in the other order): the machine's speed drifts by tens of
        # percent over minutes, and a ratio of two rows measured minutes apart measured it.
        echo_argv = [str(BIN / "uvicorn"), "bench.echo_app:app", "--log-level", "warning"]
        start("echo", echo_argv, None, "/docs")
        if wanted("replay/memory"):
            wmh_serve("replay/memory", args.root, args.model)
        if wanted("floor/memory"):
            floor_serve("floor/memory")
        redis_server = shutil.which("redis-server")
        redis_rows = ("replay/redis", "replay/redis x2", "floor/redis")
        if redis_server and any(map(wanted, redis_rows)):
            rport = free_port()
            redis = subprocess.Popen(
                [redis_server, "--bind", "127.0.0.1", "--port", str(rport), "--save", "",
                 "--appendonly", "no", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            helpers.append(redis)
            time.sleep(0.5)
            store = ("--session-store", "redis", "--redis-url", f"redis://127.0.0.1:{rport}/0")
            if wanted("replay/redis"):
                wmh_serve("replay/redis", args.root, args.model, *store)
            if wanted("replay/redis x2"):
                wmh_serve("replay/redis x2", args.root, args.model, *store, "--workers", "2")
            if wanted("floor/redis"):
                floor_serve("floor/redis", *store)
        elif any(map(wanted, redis_rows)):
            print("redis-server not found: Redis rows skipped", file=sys.stderr)
        if args.llm:
            fport = free_port()
            fake = Proc(
                [sys.executable, str(ROOT / "tests" / "fake_llm.py"), str(fport)],
                f"http://127.0.0.1:{fport}/v1/models",
            )
            helpers.append(fake)
            model_dir = build_llm_model(work, f"http://127.0.0.1:{fport}/v1")
            wmh_serve("llm/memory", model_dir.parents[1], "airline-llm")

        measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_number in range(args.rounds):
            order = servers if round_number % 2 == 0 else servers[::-1]
            for clients in LEVELS:
                for label, url, model, proc in order:
                    latencies, beyond = asyncio.run(
                        load(url, model, actions, clients, args.seconds, args.client)
                    )
                    row: dict[str, Any] = {
                        "server": label,
                        "sessions": clients,
                        "round": round_number,
                        "steps": len(latencies),
                        "steps_per_s": round(len(latencies) / args.seconds, 1),
                        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
                        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
                    }
                    if beyond:
                        row["p99_beyond_provider_ms"] = round(percentile(beyond, 0.99) * 1000, 2)
                    if clients == LEVELS[-1]:
                        row["server_rss_mb"] = round(rss_mb(proc.proc.pid), 1)
                    measured.setdefault((label, clients), []).append(row)
                    print(row, flush=True)
    finally:
        for _, _, _, proc in servers:
            proc.stop()
        for helper in helpers:
            if isinstance(helper, Proc):
                helper.stop()
            else:
                helper.terminate()
                helper.wait()
        shutil.rmtree(work, ignore_errors=True)

    labels = [label for label, _, _, _ in servers]
    ordered = sorted(measured.items(), key=lambda item: (labels.index(item[0][0]), item[0][1]))
    rows = [summary(runs, measured[("echo", clients)]) for (_, clients), runs in ordered]
    print()
    header = ("server", "sessions", "steps_per_s", "vs_echo", "p50_ms", "p99_ms")
    header += ("p99_beyond_provider_ms", "server_rss_mb", "vs_echo_rounds")
    print("  ".join(f"{h:>15}" for h in header))
    for row in rows:
        print("  ".join(f"{str(row.get(h, '')):>15}" for h in header))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    every = [row for runs in measured.values() for row in runs]
    args.out.write_text(
        json.dumps(
            {
                "seconds": args.seconds,
                "rounds": args.rounds,
                "client": args.client,
                "rows": rows,
                "runs": every,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

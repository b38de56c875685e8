"""Benchmark the harness overhead of the LLM world model and its prompt size.

A scripted OpenAI-compatible server on 127.0.0.1 answers at once; the time the server spends on
each request is recorded, so overhead = step time - server time (retrieval, prompt rendering,
the provider client, HTTP, parsing); and the same request bodies are posted with a bare httpx
client, so step - raw round trip is what wmh adds to what any client pays. Reported in-process
(one step at a time) and batched (eval over held-out traces with concurrency), at 10k steps and
100k, plus prompt tokens per step at top_k 3, 5 and 10 (mean / p99, counted by the server's
tokenizer estimate and by wmh's budget).

    python bench/bench_llm.py --sizes 10000 100000 --steps 300 --out bench/results/llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llm.json")
    args = parser.parse_args()

    import httpx

    from tests.fake_llm import FakeLLMServer, echo_environment
    from wmh.config.compose import compose_config, to_settings
    from wmh.core.text import estimate_tokens
    from wmh.core.types import Action, Step
    from wmh.eval.service import EvalOptions, evaluate
    from wmh.ingest.synthetic import write_corpus
    from wmh.pipeline.build import build_world_model
    from wmh.store.loader import load_world_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="wmh-bench-llm-") as tmp, FakeLLMServer() as fake:
        fake.default = echo_environment
        work = Path(tmp)
        for size in args.sizes:
            corpus = write_corpus(work / f"c{size}.jsonl", traces=size // 10, seed=2)
            for top_k in (3, 5, 10):
                overrides = [
                    f"name=llm{size}k{top_k}",
                    f"root={work}",
                    f"data.files=[{corpus}]",
                    "provider=openai_compatible",
                    "provider.model=openai/env",
                    f"provider.api_base={fake.api_base}",
                    "provider.num_retries=0",
                    "split.train=0.9",
                    "split.valid=0",
                    "split.test=0.1",
                    f"retrieval.top_k={top_k}",
                    "predictor.cache=false",
                    "predictor.route=llm",  # the LLM on every tool: its cost is measured
                ]
                # A small held-out part: the build's held-out check calls the LLM for each step.
                built = build_world_model(to_settings(compose_config(overrides)))
                wm, _ = load_world_model(built.path)
                held = [
                    Step.model_validate_json(line)
                    for line in (built.path / "steps" / "test.jsonl").read_bytes().splitlines()
                    if line
                ]
                rng = random.Random(size + top_k)
                overhead, prompt_est, prompt_srv, steps_ms = [], [], [], []
                session_id = wm.new_session(task="bench").id
                for i in range(args.steps):
                    step = rng.choice(held)
                    if i % 10 == 0:
                        session_id = wm.new_session(task=step.task).id
                    action = Action(name=step.action.name, arguments=step.action.arguments)
                    served_before = len(fake.server_seconds)
                    t0 = time.perf_counter()
                    observation = wm.step(session_id, action)
                    elapsed = time.perf_counter() - t0
                    server = sum(fake.server_seconds[served_before:])
                    overhead.append((elapsed - server) * 1000)
                    steps_ms.append(elapsed * 1000)
                    prompt_est.append(observation.metadata.get("prompt_tokens_est", 0))
                    body = fake.requests[-1]
                    prompt_srv.append(sum(estimate_tokens(m["content"]) for m in body["messages"]))
                # The floor: the same request bodies posted with a bare HTTP client, so "step
                # minus raw round trip" is what wmh adds to what any client pays.
                bodies = fake.requests[-min(args.steps, 100) :]
                raw_ms = []
                with httpx.Client() as client:
                    for body in bodies:
                        t0 = time.perf_counter()
                        client.post(f"{fake.api_base}/chat/completions", json=body).json()
                        raw_ms.append((time.perf_counter() - t0) * 1000)
                row = {
                    "size": size,
                    "top_k": top_k,
                    "step_p50_ms": percentile(steps_ms, 0.5),
                    "raw_round_trip_p50_ms": percentile(raw_ms, 0.5),
                    "step_minus_raw_p50_ms": percentile(steps_ms, 0.5) - percentile(raw_ms, 0.5),
                    "overhead_p50_ms": percentile(overhead, 0.5),
                    "overhead_p99_ms": percentile(overhead, 0.99),
                    "prompt_tokens_mean": statistics.mean(prompt_est),
                    "prompt_tokens_p99": percentile(prompt_est, 0.99),
                }
                if top_k == 5:
                    calls_before = len(fake.server_seconds)
                    t0 = time.perf_counter()
                    report = evaluate(
                        name=f"llm{size}k{top_k}",
                        root=work,
                        options=EvalOptions(limit=40, concurrency=8, track=False),
                    )
                    elapsed = time.perf_counter() - t0
                    calls = len(fake.server_seconds) - calls_before
                    server = sum(fake.server_seconds[calls_before:])
                    row["batched_steps"] = report.overall.steps
                    row["batched_overhead_per_step_ms"] = (
                        (elapsed - server / 8) * 1000 / max(report.overall.steps, 1)
                    )
                    row["batched_calls"] = calls
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""RL training data from a world model, offline: scenarios from the airline example's held-out
traces, a GRPO-style batch (several rollouts per scenario, group-relative advantages), a
PPO-style batch (one rollout each, advantage against the batch mean), an SFT dataset from the
train traces and SDPO feedback records (task, rollout, critique, reward).

Rollouts go through `wmh.AsyncWorldModelClient` against `wmh serve` (started here unless `--url`
names a running server), scored by the airline's own success check (`-o reward=success`). The
policy is a stand-in for the one being trained: the held-out trace's actions with seeded swaps of
argument values (`PerturbedAgent`), so rollouts of one scenario differ.

    python examples/rl/run.py                 # about 10 s on 2 cores; writes .wmh/rl/
    python examples/rl/run.py --url http://127.0.0.1:8000 --scenarios 8 --group 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from wmh import AsyncWorldModelClient, Scenario
from wmh.agents.sampled import PerturbedAgent, recorded_values
from wmh.core.types import ActionKind, Trace, Turn
from wmh.env.scenarios import model_scenarios
from wmh.store.splits import read_part

ROOT = Path(__file__).resolve().parents[2]
AIRLINE = ROOT / "examples" / "airline"
MODEL_DIR = AIRLINE / "models" / "airline"
MAX_STEPS = 12


async def rollout(
    client: AsyncWorldModelClient, scenario: Scenario, trace: Trace, values: dict, seed: int
) -> dict:
    """One episode of the stand-in policy; returns the rollout with its score and usage."""
    agent = PerturbedAgent(trace, values, seed=seed, rate=0.3)
    session = await client.new_session(scenario.task, scenario.seed_state)
    turns: list[Turn] = []
    for _ in range(MAX_STEPS):
        action = agent.act(scenario.task, turns)
        if action is None:
            break
        observation = await client.step(session.id, action)
        turns.append(Turn(action=action, observation=observation))
    score = await client.score_session(session.id)
    usage = await client.end_session(session.id)
    return {
        "scenario": scenario.trace_id,
        "seed": seed,
        "turns": [t.model_dump(mode="json") for t in turns],
        "reward": score.reward,
        "success": score.success,
        "critique": score.critique,
        "steps": usage.steps,
    }


def group_advantages(rewards: list[float]) -> list[float]:
    """GRPO: each reward against its group's mean, in units of the group's spread."""
    mean = statistics.fmean(rewards)
    spread = statistics.pstdev(rewards)
    return [round((r - mean) / (spread + 1e-6), 4) for r in rewards]


def sft_records(traces: list[Trace]) -> list[dict]:
    """Chat messages up to each recorded tool call, and that call as the target."""
    records = []
    for trace in traces:
        messages: list[dict] = [{"role": "user", "content": trace.task}]
        for step in trace.steps:
            action = step.action
            if action.kind is ActionKind.TOOL_CALL:
                call = {"name": action.name, "arguments": json.dumps(action.arguments)}
                records.append({"messages": list(messages), "target": {"tool_call": call}})
                messages.append({"role": "assistant", "tool_call": call})
                messages.append({"role": "tool", "content": step.observation.content})
            else:
                messages.append({"role": "assistant", "content": action.content})
                messages.append({"role": "user", "content": step.observation.content})
    return records


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int, log: Path) -> subprocess.Popen:
    wmh = str(Path(sys.executable).parent / "wmh")
    argv = [wmh, "serve", "--root", str(AIRLINE), "--port", str(port), "--log-level", "warning",
            "-o", "reward=success"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"wmh serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("wmh serve did not start within 60 s")


async def main_async(args: argparse.Namespace, url: str) -> dict:
    scenarios = model_scenarios(MODEL_DIR, count=args.scenarios, seed=args.seed)
    traces = {t.trace_id: t for t in read_part(MODEL_DIR, "test")}
    async with AsyncWorldModelClient(url, "airline") as client:
        values = recorded_values(await client.tool_schemas())
        grpo_runs = await asyncio.gather(
            *(
                rollout(client, s, traces[s.trace_id], values, seed=args.seed * 1000 + k)
                for s in scenarios
                for k in range(args.group)
            )
        )
        ppo_runs = await asyncio.gather(
            *(rollout(client, s, traces[s.trace_id], values, seed=10**6 + i)
              for i, s in enumerate(scenarios))
        )  # fmt: skip
    grpo = []
    for s in scenarios:
        group = [r for r in grpo_runs if r["scenario"] == s.trace_id]
        advantages = group_advantages([r["reward"] for r in group])
        grpo.append(
            {
                "scenario": s.trace_id,
                "task": s.task,
                "rewards": [r["reward"] for r in group],
                "advantages": advantages,
            }
        )
    baseline = statistics.fmean(r["reward"] for r in ppo_runs)
    ppo = [
        {
            "scenario": r["scenario"],
            "reward": r["reward"],
            "advantage": round(r["reward"] - baseline, 4),
        }
        for r in ppo_runs
    ]
    return {"scenarios": scenarios, "grpo": grpo, "grpo_runs": grpo_runs, "ppo": ppo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="", help="a running wmh serve (default: start one)")
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument("--group", type=int, default=4, help="GRPO rollouts per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / ".wmh" / "rl")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = None
    url = args.url
    if not url:
        port = free_port()
        server = start_server(port, args.out / "serve.log")
        url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        result = asyncio.run(main_async(args, url))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    sft = sft_records(read_part(MODEL_DIR, "train"))
    write_jsonl(args.out / "sft.jsonl", sft)
    sdpo = [
        {"task": next(s.task for s in result["scenarios"] if s.trace_id == r["scenario"]),
         "rollout": r["turns"], "critique": r["critique"], "reward": r["reward"]}
        for r in result["grpo_runs"]
    ]  # fmt: skip
    write_jsonl(args.out / "sdpo.jsonl", sdpo)
    summary = {"grpo": result["grpo"], "ppo": result["ppo"], "sft": len(sft), "sdpo": len(sdpo)}
    (args.out / "batches.json").write_text(json.dumps(summary, indent=2))
    print(f"GRPO batch: {args.group} rollouts per scenario, group-relative advantages")
    for group in result["grpo"]:
        rewards = " ".join(f"{r:.2f}" for r in group["rewards"])
        advantages = " ".join(f"{a:+.2f}" for a in group["advantages"])
        print(f"  {group['scenario'][:8]}  rewards {rewards}  advantages {advantages}")
        print(f"            {group['task'][:78]}")
    print("PPO batch: one rollout per scenario, advantage against the batch mean")
    for row in result["ppo"]:
        reward, advantage = row["reward"], row["advantage"]
        print(f"  {row['scenario'][:8]}  reward {reward:.2f}  advantage {advantage:+.2f}")
    print(f"SFT dataset: {len(sft)} examples -> {args.out / 'sft.jsonl'}")
    print(f"SDPO feedback: {len(sdpo)} records -> {args.out / 'sdpo.jsonl'}")
    print(f"done in {time.perf_counter() - started:.1f}s")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

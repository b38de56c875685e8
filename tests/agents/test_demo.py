"""`wmh demo`: a sampled agent replaying a held-out trace, and an LLM agent over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.agents.demo import run_demo
from wmh.agents.llm import LLMAgent, parse_action
from wmh.agents.sampled import SampledAgent, pick_trace
from wmh.config.schema import ProviderConfig
from wmh.core.types import ActionKind
from wmh.providers.llm import LLMProvider
from wmh.scoring.judges import StructuralJudge
from wmh.store.loader import load_world_model
from wmh.store.splits import agent_traces

WMH = str(Path(sys.executable).parent / "wmh")


def test_the_sampled_agent_replays_a_heldout_trace_and_is_scored(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    traces = agent_traces(built_model)
    test_ids = {
        line.split(b'"trace_id":"', 1)[1].split(b'"', 1)[0]
        for line in (built_model / "steps" / "test.jsonl").read_bytes().splitlines()
    }
    assert {t.trace_id.encode() for t in traces} == test_ids
    agent = SampledAgent(pick_trace(traces, seed=3))
    steps = list(run_demo(wm, agent, agent.task, max_steps=50))
    assert [s.action for s in steps] == [s.action for s in agent.trace.steps]
    judge = StructuralJudge()
    recorded = [s.observation for s in agent.trace.steps]
    # Each step's fidelity is the structural judge's score against the recorded answer.
    assert [s.fidelity for s in steps] == [
        judge.judge(s.observation, r).score for s, r in zip(steps, recorded, strict=True)
    ]
    assert sum(s.fidelity or 0 for s in steps) / len(steps) > 0.5
    assert len(wm.sessions) == 0  # the demo session is closed


def test_wmh_demo_prints_action_observation_latency_and_fidelity(built_model: Path) -> None:
    done = subprocess.run(
        [WMH, "demo", "--name", "records", "--root", str(built_model.parents[1]), "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stderr
    assert "agent sampled" in done.stdout
    # Three numbered rows, each with its latency and fidelity; the mean line is their mean. (The
    # latency column is as wide as its widest value: a first step of 10 ms or more under load
    # pads the others.)
    rows = re.findall(r"│ ([123]) │.*│ +(\d+\.\d\d) │ +(\d\.\d\d|-) +│", done.stdout)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(r[2] != "-" for r in rows)  # a held-out trace: every step is scored
    mean = float(re.search(r"3 steps, mean (\d+\.\d\d) ms per step", done.stdout).group(1))
    assert mean == pytest.approx(sum(float(r[1]) for r in rows) / 3, abs=0.011)


def test_the_llm_agent_answers_actions_until_done(built_model: Path, fake_llm: FakeLLM) -> None:
    fake_llm.script = [
        Reply(tool_calls=[("get_user", {"user_id": "u1"})]),  # litellm tool calling
        Reply("Let me look that up for you."),
        Reply('{"done": true}'),
    ]
    wm, _ = load_world_model(built_model)
    provider = LLMProvider(
        ProviderConfig(
            name="openai_compatible",
            model="openai/agent",
            api_base=fake_llm.api_base,
            num_retries=0,
            timeout=5,
        )
    )
    agent = LLMAgent(provider, wm.tool_schemas())
    steps = list(run_demo(wm, agent, "find user u1", max_steps=10))
    assert [s.action.kind for s in steps] == [ActionKind.TOOL_CALL, ActionKind.MESSAGE]
    assert steps[0].action.name == "get_user" and steps[0].action.arguments == {"user_id": "u1"}
    first, _, third = fake_llm.requests
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert offered["get_user"]["parameters"]["required"] == ["user_id"]  # schemas are offered
    assert steps[0].observation.content in third["messages"][3]["content"]


def test_wmh_demo_with_a_provider_runs_the_llm_agent(built_model: Path, fake_llm: FakeLLM) -> None:
    fake_llm.script = [Reply('{"tool": "get_user", "arguments": {"user_id": "u1"}}')]
    fake_llm.default = Reply('{"done": true}')
    done = subprocess.run(
        [
            WMH,
            "demo",
            "--name",
            "records",
            "--root",
            str(built_model.parents[1]),
            "-o",
            "provider=openai_compatible",
            "-o",
            "provider.model=openai/agent",
            "-o",
            f"provider.api_base={fake_llm.api_base}",
            "-o",
            "provider.num_retries=0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stderr
    assert "agent llm" in done.stdout and "get_user" in done.stdout
    assert "1 steps, mean" in done.stdout


def test_agent_answers_parse_leniently() -> None:
    assert parse_action('{"done": true}') is None
    call = parse_action('Sure: {"tool": "search", "arguments": {"q": "x"}}')
    assert call is not None and call.name == "search" and call.arguments == {"q": "x"}
    chat = parse_action("I think we are nearly there")
    assert chat is not None and chat.kind is ActionKind.MESSAGE
    assert parse_action('{"message": "hello"}').content == "hello"  # type: ignore[union-attr]
    noted = parse_action('{"tool": "search", "arguments": {}} -- note: {braces}')
    assert noted is not None and noted.kind is ActionKind.TOOL_CALL and noted.name == "search"

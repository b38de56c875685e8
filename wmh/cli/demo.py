"""`wmh demo --name NAME`: a short scripted agent run against a built world model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from wmh.cli.common import RootOption, console


def demo(
    name: str = typer.Option(..., "--name", "-n", help="World model to run against."),
    root: Path = RootOption,
    steps: int = typer.Option(8, "--steps", min=1, help="At most this many actions."),
    seed: int = typer.Option(0, "--seed", help="Which held-out trace the sampled agent replays."),
    agent: str = typer.Option(
        "auto",
        "--agent",
        help="sampled (actions of a held-out trace), llm (needs a provider), or auto: llm when "
        "a provider is given with -o provider=..., else sampled.",
    ),
    task: str = typer.Option("", "--task", help="Task for the llm agent (default: the trace's)."),
    override: list[str] = typer.Option(
        None, "-o", "--override", help="Provider for the llm agent, e.g. -o provider=openai."
    ),
) -> None:
    """Run an agent for a few steps: action, observation and latency for each."""
    from wmh.agents.base import Agent
    from wmh.agents.demo import run_demo
    from wmh.agents.llm import LLMAgent
    from wmh.agents.sampled import SampledAgent, pick_trace
    from wmh.config.compose import compose_config, to_settings
    from wmh.errors import ConfigError
    from wmh.providers.llm import LLMProvider
    from wmh.store.loader import load_world_model
    from wmh.store.splits import agent_traces_of
    from wmh.store.store import WorldModelStore

    model_dir = WorldModelStore(root).resolve(name)
    wm, _ = load_world_model(model_dir)
    part, traces = agent_traces_of(model_dir)
    trace = pick_trace(traces, seed)
    sampled = SampledAgent(trace)
    overrides = list(override or [])
    runner: Agent
    chosen = agent if agent != "auto" else ("llm" if overrides else "sampled")
    if chosen == "llm":
        settings = to_settings(compose_config([f"name={name}", *overrides]))
        if settings.provider.name == "replay":
            raise ConfigError("the llm agent needs a provider: -o provider=openai (or another)")
        runner = LLMAgent(LLMProvider(settings.provider), wm.tool_schemas())
        goal = task or sampled.task
    elif chosen == "sampled":
        runner, goal = sampled, sampled.task
    else:
        raise ConfigError(f"--agent must be sampled, llm or auto, got {agent!r}")
    console.print(f"[bold]{name}[/] · agent {runner.name} · task: {escape(goal)}", markup=True)
    if part != "test" and runner is sampled:
        console.print(
            f"no held-out trace in '{escape(name)}': replaying one of its {part} traces, whose "
            "answers its index holds (a fidelity of 1.00 here is no test of the model)",
            style="yellow",
        )
    table = Table("#", "action", "observation", "ms", "fidelity", show_lines=True)
    latencies = []
    for step in run_demo(wm, runner, goal, steps):
        style = "red" if step.observation.is_error else "green"
        content = step.observation.content
        shown = content if len(content) <= 300 else content[:300] + " …"
        latencies.append(step.latency_ms)
        table.add_row(
            str(step.index + 1),
            escape(step.action.render()),
            f"[{style}]{escape(shown)}[/]",
            f"{step.latency_ms:.2f}",
            f"{step.fidelity:.2f}" if step.fidelity is not None else "-",
        )
    console.print(table)
    if latencies:
        console.print(
            f"{len(latencies)} steps, mean {sum(latencies) / len(latencies):.2f} ms per step"
        )

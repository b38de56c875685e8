"""Sim-to-real: the same seeded agent in an example's world model and in its real environment.

For each episode, a held-out trace's actions (perturbed with a seed, so the agent leaves the
recorded paths) are played against the real environment and against a fresh world model session.
Every tool step's simulated observation is scored against the real one (structural judge), beside
the nearest-neighbour copy of the same step as a baseline; with a reward judge, the two episodes'
rewards are compared too (agreement within 0.2, and correlation across episodes).
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel, Field

from wmh.agents.sampled import PerturbedAgent, recorded_values
from wmh.core.types import ActionKind, Session, Turn
from wmh.engine.predictor import PredictionContext
from wmh.env.base import ToolEnv, WorldModelEnv
from wmh.env.episode import run_episode
from wmh.errors import ConfigError, ProviderError
from wmh.eval.results import SIM2REAL_PREFIX
from wmh.scoring.baselines import NearestNeighbourCopy
from wmh.scoring.judges import StructuralJudge
from wmh.scoring.rewards import RewardJudge
from wmh.scoring.success import env_module, success_check
from wmh.store.loader import load_world_model
from wmh.store.splits import agent_traces
from wmh.store.store import WorldModelStore

AGREEMENT = 0.2  # episode rewards this close count as agreeing


class ToolFigures(BaseModel):
    steps: int = 0
    fidelity: float = 0.0
    nn_copy: float = 0.0


class EpisodeResult(BaseModel):
    trace_id: str
    task: str
    steps: int
    scored: int
    fidelity: float | None
    nn_copy: float | None
    error_flag_agreement: float | None
    reward_sim: float | None = None
    reward_real: float | None = None
    critique_sim: str = ""
    critique_real: str = ""
    # Why the episode has no rewards: a judge call failed or answered with no score.
    reward_error: str = ""


class Sim2RealReport(BaseModel):
    example: str
    model: str
    episodes: int
    seed: int
    agent: str
    perturb_rate: float
    judge: str = "structural"
    reward: str = "none"
    steps: int = 0
    scored_steps: int = 0
    fidelity: float = 0.0
    nn_copy: float = 0.0
    error_flag_agreement: float = 0.0
    reward_agreement: float | None = None
    reward_correlation: float | None = None
    # Episodes the judge could not grade (each says why); their rewards are left out of the
    # agreement and the correlation, the other episodes are still compared.
    reward_failures: int = 0
    per_tool: dict[str, ToolFigures] = Field(default_factory=dict)
    results: list[EpisodeResult] = Field(default_factory=list)
    created_at: str = ""


def example_module(example_dir: Path) -> ModuleType:
    """An example's env.py, loaded once (examples/ is not a package)."""
    return env_module(example_dir)


def load_real_env(example_dir: Path) -> ToolEnv:
    """The example's real environment: `make_real_env()` of its env.py."""
    factory = getattr(example_module(example_dir), "make_real_env", None)
    if factory is None:
        raise ConfigError(f"{example_dir / 'env.py'} has no make_real_env()")
    env: ToolEnv = factory()
    return env


def example_success_check(example_dir: Path) -> RewardJudge | None:
    """The example's programmatic success check (`make_success_check()`), if it has one."""
    return success_check(example_dir)


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _correlation(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2 or statistics.pstdev(a) == 0 or statistics.pstdev(b) == 0:
        return None
    return round(statistics.correlation(a, b), 4)


def run_sim2real(
    example_dir: str | Path,
    episodes: int,
    seed: int,
    reward: RewardJudge | None = None,
    rate: float = 0.3,
    model_dir: str | Path | None = None,
) -> Sim2RealReport:
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    if not 0.0 <= rate <= 1.0:  # NaN too
        raise ConfigError(f"the perturbation rate is a chance, from 0 to 1; got {rate}")
    example_dir = Path(example_dir)
    model_dir = Path(model_dir or WorldModelStore(example_dir).path(example_dir.name))
    traces = sorted(agent_traces(model_dir), key=lambda t: t.trace_id)
    # The held-out traces are in the published index; the simulation never sees them.
    wm, _ = load_world_model(model_dir, hidden=frozenset(t.trace_id for t in traces))
    real = load_real_env(example_dir)
    chosen = random.Random(seed).sample(traces, min(episodes, len(traces)))
    values = recorded_values(wm.tool_schemas())
    judge = StructuralJudge()
    baseline = NearestNeighbourCopy(wm.retriever)
    report = Sim2RealReport(
        example=example_dir.name,
        model=wm.name,
        episodes=len(chosen),
        seed=seed,
        agent=PerturbedAgent.name,
        perturb_rate=rate,
        reward=reward.name if reward else "none",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    tools: dict[str, list[tuple[float, float]]] = defaultdict(list)
    flags: list[float] = []
    rewards: list[tuple[float, float]] = []
    try:
        for trace in chosen:
            agent = PerturbedAgent(trace, values, seed=seed, rate=rate)
            task, limit = agent.task, len(trace.steps)
            real_episode = run_episode(real, agent, task, max_steps=limit)
            sim_env = WorldModelEnv(wm)
            sim_episode = run_episode(sim_env, agent, task, max_steps=limit)
            sim_env.close()
            fidelities, copies, agree = [], [], []
            real_turns: list[Turn] = []
            for sim_step, real_step in zip(sim_episode.steps, real_episode.steps, strict=True):
                action = real_step.action
                if action.kind is ActionKind.TOOL_CALL:
                    context = Session(id="sim2real", task=task, history=list(real_turns))
                    copy = baseline.predict(PredictionContext(context, action))
                    fidelity = judge.judge(sim_step.observation, real_step.observation).score
                    copied = judge.judge(copy, real_step.observation).score
                    fidelities.append(fidelity)
                    copies.append(copied)
                    same_flag = sim_step.observation.is_error == real_step.observation.is_error
                    agree.append(float(same_flag))
                    tools[action.name].append((fidelity, copied))
                real_turns.append(Turn(action=action, observation=real_step.observation))
            result = EpisodeResult(
                trace_id=trace.trace_id,
                task=task,
                steps=len(real_episode.steps),
                scored=len(fidelities),
                fidelity=_mean(fidelities),
                nn_copy=_mean(copies),
                error_flag_agreement=_mean(agree),
            )
            flags.extend(agree)
            if reward is not None:
                sim_turns = [
                    Turn(action=s.action, observation=s.observation) for s in sim_episode.steps
                ]
                try:
                    sim_verdict = reward.judge(task, sim_turns)
                    real_verdict = reward.judge(task, real_turns)
                except ProviderError as exc:
                    # One episode the judge could not grade does not end the run (its steps'
                    # figures stand); it is counted, and says why.
                    result.reward_error = str(exc)[:500]
                    report.reward_failures += 1
                else:
                    result.reward_sim = sim_verdict.episode
                    result.critique_sim = sim_verdict.critique
                    result.reward_real = real_verdict.episode
                    result.critique_real = real_verdict.critique
                    rewards.append((sim_verdict.episode, real_verdict.episode))
            report.results.append(result)
    finally:
        real.close()
    pairs = [pair for scores in tools.values() for pair in scores]
    report.steps = sum(r.steps for r in report.results)
    report.scored_steps = len(pairs)
    report.fidelity = _mean([f for f, _ in pairs]) or 0.0
    report.nn_copy = _mean([c for _, c in pairs]) or 0.0
    report.error_flag_agreement = _mean(flags) or 0.0
    report.per_tool = {
        tool: ToolFigures(
            steps=len(scores),
            fidelity=_mean([f for f, _ in scores]) or 0.0,
            nn_copy=_mean([c for _, c in scores]) or 0.0,
        )
        for tool, scores in sorted(tools.items())
    }
    if rewards:
        report.reward_agreement = _mean([float(abs(s - r) <= AGREEMENT) for s, r in rewards])
        report.reward_correlation = _correlation([s for s, _ in rewards], [r for _, r in rewards])
    return report


def save_sim2real(report: Sim2RealReport, root: str | Path) -> Path:
    stamp = report.created_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    path = Path(root) / "evals" / report.example / f"{SIM2REAL_PREFIX}{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def track_sim2real(report: Sim2RealReport, path: Path, root: Path | None = None) -> str:
    """An MLflow run in the example's experiment: the figures, the per-tool ones, the JSON."""
    from wmh.tracking.mlflow_runs import log_run

    metrics: dict[str, float] = {
        "sim2real.fidelity": report.fidelity,
        "sim2real.baseline.nn_copy": report.nn_copy,
        "sim2real.error_flag_agreement": report.error_flag_agreement,
        "sim2real.scored_steps": report.scored_steps,
    }
    if report.reward != "none":
        metrics["sim2real.reward_failures"] = report.reward_failures
    if report.reward_agreement is not None:
        metrics["sim2real.reward_agreement"] = report.reward_agreement
    if report.reward_correlation is not None:
        metrics["sim2real.reward_correlation"] = report.reward_correlation
    for tool, figures in report.per_tool.items():
        metrics[f"sim2real.tool.{tool}.fidelity"] = figures.fidelity
    params = {
        "sim2real": {
            "example": report.example,
            "model": report.model,
            "episodes": report.episodes,
            "seed": report.seed,
            "agent": report.agent,
            "perturb_rate": report.perturb_rate,
            "reward": report.reward,
        }
    }
    return log_run(
        report.example,
        f"sim2real-{report.example}",
        params,
        metrics,
        [path],
        tags={"wmh.kind": "sim2real", "wmh.model": report.model},
        root=root,
    )

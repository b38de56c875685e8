"""The optimize stage: evolve the environment prompt with GEPA on valid-split steps.

`gepa.optimize` runs the reflective Pareto search; we supply the adapter, the reflection model
(through the provider layer), the budget in metric calls, and a run directory so an interrupted
optimisation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from wmh.config.schema import WmhConfig
from wmh.core.stored import step_counts
from wmh.core.types import Trace, Turn
from wmh.engine.llm_prompt import PromptBudget
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ConfigError
from wmh.optimize.gepa_adapter import COMPONENT, Example, WorldModelAdapter
from wmh.providers.llm import LLMProvider, Usage
from wmh.retrieval.retriever import Retriever
from wmh.scoring.factory import make_judge

log = logging.getLogger(__name__)


@dataclass
class FrontierCandidate:
    index: int
    text: str
    parents: list[int | None]
    scores: dict[str, float]
    aggregate: float
    on_frontier: bool


@dataclass
class EvolveResult:
    skipped: str = ""  # why the stage did not run; empty when it ran
    best_prompt: str = ""
    best_index: int = 0
    rollouts: int = 0
    candidates: list[FrontierCandidate] = field(default_factory=list)
    progress: list[tuple[int, float]] = field(default_factory=list)
    measured_on: str = "valid"  # which traces scored the candidates
    provider_calls: int = 0  # the world model's calls while scoring candidates
    provider_failures: int = 0
    reflection_model: str = ""
    reflection_calls: int = 0  # the reflection model's calls while proposing prompts
    reflection_failures: int = 0
    notes: list[str] = field(default_factory=list)  # what the build summary must say
    # What GEPA spent: its world-model calls scoring candidates, its reflection model's calls
    # (calls, tokens, cost, latency, failures: `Usage.as_dict`).
    usage: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def frontier_size(self) -> int:
        return sum(1 for c in self.candidates if c.on_frontier)


def skip_reason(settings: WmhConfig) -> str:
    """Why GEPA would not run for these settings ('' when it would)."""
    if settings.provider.name == "replay":
        return "provider=replay has no prompt to tune: GEPA skipped (use an LLM provider)"
    if settings.gepa.budget <= 0:
        return "gepa.budget=0: GEPA skipped"
    return ""


def valid_examples(traces: Sequence[Trace], size: int, seed: int) -> list[Example]:
    """Up to `size` valid-split steps, drawn with a seeded RNG, with their recorded history.

    The draw shuffles every step's place (trace, position), read from the traces' sizes: traces
    held as lines (`StoredTraces`) are parsed only when one of their steps is drawn."""
    places = [(n, i) for n, count in enumerate(step_counts(traces)) for i in range(count)]
    random.Random(seed).shuffle(places)
    drawn = places[:size]
    read = {n: traces[n] for n in sorted({n for n, _ in drawn})}
    examples = []
    for n, i in drawn:
        trace = read[n]
        step = trace.steps[i]
        history = tuple(Turn(action=s.action, observation=s.observation) for s in trace.steps[:i])
        examples.append(
            Example(trace.trace_id, step.index, trace.task, history, step.action, step.observation)
        )
    return examples


class _GepaLog:
    """GEPA's per-iteration chatter goes to `logging` (debug), not to stdout."""

    def log(self, message: str) -> None:
        log.debug("gepa: %s", message)


class _Progress:
    """GEPA callback: the best valid score after each iteration, for logs and MLflow."""

    def __init__(self, on_iteration: Callable[[int, float], None] | None) -> None:
        self.best = 0.0
        self.history: list[tuple[int, float]] = []
        self.on_iteration = on_iteration

    def on_valset_evaluated(self, event: dict[str, Any]) -> None:
        self.best = max(self.best, float(event["average_score"]))

    def on_iteration_end(self, event: dict[str, Any]) -> None:
        self.history.append((int(event["iteration"]), self.best))
        if self.on_iteration is not None:
            self.on_iteration(int(event["iteration"]), self.best)


# GEPA's candidate selection strategies (`gepa.optimize`'s `candidate_selection_strategy`).
CANDIDATE_SELECTIONS = ("pareto", "current_best", "epsilon_greedy", "top_k_pareto")


def check_gepa_settings(settings: WmhConfig) -> None:
    """ConfigError for GEPA settings it would fail on, or take silently for something else,
    before the build works for minutes (checked whatever the budget)."""
    gepa = settings.gepa
    if gepa.budget < 0:
        raise ConfigError(
            f"gepa.budget must be 0 (no GEPA) or more metric calls, got {gepa.budget}"
        )
    if gepa.candidate_selection not in CANDIDATE_SELECTIONS:
        raise ConfigError(
            f"gepa.candidate_selection must be one of {', '.join(CANDIDATE_SELECTIONS)}, got "
            f"'{gepa.candidate_selection}'"
        )
    for key, value in (("valset_size", gepa.valset_size), ("minibatch_size", gepa.minibatch_size)):
        if value < 1:
            raise ConfigError(f"gepa.{key} must be at least 1, got {value}")


def _notes(settings: WmhConfig, scored: int, reflection: Usage, candidates: int) -> list[str]:
    """What the build's summary must say of a GEPA run: that it proposed nothing because the
    budget went on scoring the seed prompt on the `scored` steps, or that some of its reflection
    calls failed."""
    gepa, notes = settings.gepa, []
    if candidates == 1 and reflection.calls + reflection.failures == 0:
        notes.append(
            f"GEPA proposed no prompt: gepa.budget={gepa.budget} metric calls went on scoring "
            f"the seed prompt on {scored} steps; raise gepa.budget above {scored}"
        )
    if reflection.failures and reflection.calls:
        notes.append(
            f"{reflection.failures} of {reflection.calls + reflection.failures} GEPA reflection "
            "calls failed at the provider: GEPA proposed fewer prompts than its budget allowed"
        )
    return notes


def _reflection_lm(settings: WmhConfig) -> tuple[Callable[[Any], str], LLMProvider]:
    model = settings.gepa.reflection_model or settings.provider.model
    provider = LLMProvider(
        replace(
            settings.provider,
            model=model,
            temperature=0.7,
            max_tokens=max(settings.provider.max_tokens, 2048),
        )
    )

    def reflect(prompt: str | list[dict[str, Any]]) -> str:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return provider.complete(messages).text

    return reflect, provider


def evolve_prompt(
    settings: WmhConfig,
    base_prompt: str,
    valid: Sequence[Trace],
    retriever: Retriever,
    replay: ReplayPredictor,
    run_dir: Path,
    on_iteration: Callable[[int, float], None] | None = None,
    train: Sequence[Trace] = (),
) -> EvolveResult:
    """Run GEPA from `base_prompt`; the result holds the best prompt and every candidate.

    Candidates are scored on valid steps; with no valid split, on `train` steps instead, each
    predicted with its own trace left out of the index (so none is answered from itself)."""
    reason = skip_reason(settings)
    if reason:
        return EvolveResult(skipped=reason, best_prompt=base_prompt)
    measured_on = "valid"
    if not any(step_counts(valid)) and train:
        valid, measured_on = train, "train traces, each left out of the index (no valid split)"
    examples = valid_examples(valid, settings.gepa.valset_size, settings.gepa.seed)
    if not examples:
        raise ConfigError(
            "GEPA needs steps to score candidates on: add traces, raise split.valid (it is "
            f"{settings.split.valid}) or set gepa.budget=0"
        )
    import gepa

    adapter = WorldModelAdapter(
        LLMProvider(settings.provider),
        retriever,
        replay,
        make_judge(settings.judge.name, settings.judge, settings.provider),
        settings.retrieval.top_k,
        PromptBudget(total=settings.predictor.max_prompt_tokens),
    )
    progress = _Progress(on_iteration)
    # The state of a run on these steps: the same settings on other traces start afresh.
    run_dir = run_dir / f"steps-{examples_key(examples)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    reflect, reflector = _reflection_lm(settings)
    result: Any = gepa.optimize(
        seed_candidate={COMPONENT: base_prompt},
        trainset=examples,
        valset=examples,
        adapter=adapter,  # type: ignore[arg-type]
        reflection_lm=reflect,  # type: ignore[arg-type]
        candidate_selection_strategy=settings.gepa.candidate_selection,  # type: ignore[arg-type]
        reflection_minibatch_size=settings.gepa.minibatch_size,
        use_merge=settings.gepa.use_merge,
        max_metric_calls=settings.gepa.budget,
        run_dir=str(run_dir),
        seed=settings.gepa.seed,
        callbacks=[progress],  # type: ignore[list-item]
        display_progress_bar=False,
        logger=_GepaLog(),
        raise_on_exception=False,
    )
    frontier = (
        set().union(*result.per_val_instance_best_candidates.values())
        if result.per_val_instance_best_candidates
        else {result.best_idx}
    )
    candidates = [
        FrontierCandidate(
            index=i,
            text=c[COMPONENT],
            parents=list(result.parents[i]),
            scores={str(k): float(v) for k, v in result.val_subscores[i].items()},
            aggregate=float(result.val_aggregate_scores[i]),
            on_frontier=i in frontier,
        )
        for i, c in enumerate(result.candidates)
    ]
    return EvolveResult(
        best_prompt=result.best_candidate[COMPONENT],  # type: ignore[index]
        best_index=result.best_idx,
        rollouts=int(result.total_metric_calls or 0),
        candidates=candidates,
        progress=progress.history,
        measured_on=measured_on,
        provider_calls=adapter.provider.usage.calls + adapter.provider.usage.failures,
        provider_failures=adapter.provider.usage.failures,
        reflection_model=reflector.config.model,
        reflection_calls=reflector.usage.calls + reflector.usage.failures,
        reflection_failures=reflector.usage.failures,
        notes=_notes(settings, len(examples), reflector.usage, len(candidates)),
        usage={
            "scoring": adapter.provider.usage.as_dict(),
            "reflection": reflector.usage.as_dict(),
        },
    )


def examples_key(examples: Sequence[Example]) -> str:
    """A digest of what GEPA scores candidates on: each step's place, task, history, action and
    recorded answer."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(
            orjson.dumps(
                [
                    example.trace_id,
                    example.index,
                    example.task,
                    [turn.model_dump(mode="json") for turn in example.history],
                    example.action.model_dump(mode="json"),
                    example.expected.model_dump(mode="json"),
                ]
            )
        )
    return digest.hexdigest()[:12]

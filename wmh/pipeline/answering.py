"""Which predictor answers which tool, and the held-out score of what was chosen.

An LLM world model answers a tool only where it beat replay on valid steps: a small or badly
prompted model can write worse answers than the recordings for some tools (or all of them), and
an RL loop should not pay for those. The valid traces are hidden from the index while they are
measured (their own recordings would answer them); tools with no valid step stay with the LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wmh.config.schema import WmhConfig
from wmh.core.stored import step_counts, trace_ids
from wmh.core.types import Trace
from wmh.engine.factory import make_predictor
from wmh.engine.llm import LLMPredictor
from wmh.engine.predictor import Predictor
from wmh.engine.prompts import base_prompt
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ConfigError
from wmh.optimize.evolve import EvolveResult
from wmh.pipeline.clock import Clock
from wmh.pipeline.fit_replay import selection_traces
from wmh.retrieval.retriever import IndexRetriever, SearchOnce
from wmh.scoring.baselines import ActionCopy, MostFrequentObservation, NearestNeighbourCopy
from wmh.scoring.factory import make_judge
from wmh.scoring.runner import EvalReport, evaluate_traces

ROUTES = ("per_tool", "llm")


@dataclass(frozen=True)
class Answering:
    """The predictor, the tools it leaves to replay, and per tool what valid steps measured:
    (LLM score, replay score, steps)."""

    predictor: str
    replay_tools: tuple[str, ...] = ()
    valid: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    report: EvalReport | None = None  # of the LLM on the valid steps (its provider errors count)
    why: str = ""  # why nothing was measured, when nothing was

    def summary_dict(self) -> dict[str, object]:
        return {"predictor": self.predictor, "replay_tools": list(self.replay_tools),
                "valid": {tool: list(v) for tool, v in self.valid.items()},
                "usage": self.report.usage if self.report else {},
                "why": self.why}  # fmt: skip

    def summary(self) -> str:
        if self.predictor != "llm":
            return ""
        if not self.valid:
            return f"the LLM answers every tool ({self.why or 'nothing compared it with replay'})"
        llm = sorted(set(self.valid) - set(self.replay_tools))
        kept = ", ".join(
            f"{tool} ({self.valid[tool][1]:.2f} > {self.valid[tool][0]:.2f})"
            for tool in self.replay_tools
        )
        head = f"the LLM answers {len(llm)} of {len(self.valid)} tools measured on valid steps"
        usage = self.report.usage if self.report else {}
        # `calls` counts the answered ones; `failures` those that failed or were not sent (the
        # provider's time budget spent)
        failed = usage.get("failures", 0) if usage else 0
        cost = (
            f" (measuring them: {usage['calls'] + failed:.0f} calls, "
            + (f"{failed:.0f} of them unanswered, " if failed else "")
            + f"{usage['prompt_tokens']:.0f} + {usage['completion_tokens']:.0f} tokens, "
            f"cost {usage['cost']:g})"
            if usage
            else ""
        )
        return head + cost + (f"; replay answers {kept}" if kept else "")


def check_route(settings: WmhConfig) -> None:
    if settings.predictor.route not in ROUTES:
        raise ConfigError(
            f"predictor.route must be one of {', '.join(ROUTES)}, got '{settings.predictor.route}'"
        )
    if settings.predictor.route_traces < 1:
        raise ConfigError(
            f"predictor.route_traces must be at least 1, got {settings.predictor.route_traces} "
            "(predictor.route=llm lets the LLM answer every tool)"
        )


def choose_answering(
    settings: WmhConfig,
    retriever: IndexRetriever,
    replay: ReplayPredictor,
    instructions: str,
    valid: Sequence[Trace],
) -> Answering:
    """Per tool, the LLM or replay, by their scores on (at most `predictor.route_traces`) valid
    traces, each hidden from the index while it is measured."""
    if settings.provider.name == "replay":
        return Answering(replay.name)
    if settings.predictor.route == "llm":
        return Answering(LLMPredictor.name, why="predictor.route=llm")
    if not valid:
        return Answering(LLMPredictor.name, why="no valid steps to compare it with replay")
    ids = trace_ids(valid)
    first = sorted(range(len(ids)), key=ids.__getitem__)[: settings.predictor.route_traces]
    chosen = [valid[i] for i in first]
    hidden = retriever.hiding(retriever.hidden | {t.trace_id for t in chosen})
    blind_replay = replay.with_policies(replay.policies, hidden)
    blind, provider = make_predictor(settings, hidden, blind_replay, instructions)
    judge = make_judge(settings.judge.name, settings.judge, settings.provider)
    report = evaluate_traces(settings.name, blind, chosen, judge, baselines=[blind_replay])
    usage = getattr(provider, "usage", None)
    if usage is not None:  # what measuring the LLM on valid steps cost, apart from held-out
        report.usage = usage.as_dict()
    measured = {
        tool: (f.score, f.baselines.get(blind_replay.name, 0.0), f.steps)
        for tool, f in report.per_tool.items()
    }
    to_replay = tuple(sorted(tool for tool, (llm, rep, _) in measured.items() if rep > llm))
    return Answering(blind.name, to_replay, measured, report)


def _heldout(
    settings: WmhConfig,
    predictor: Predictor,
    retriever: IndexRetriever,
    test: Sequence[Trace],
    replay: ReplayPredictor,
    clock: Clock | None = None,
) -> EvalReport | None:
    if not test:
        return None
    # The copy baseline's search is the one the replay model has just made for the same step:
    # both search through one memo, each query once.
    searched = SearchOnce.of(retriever) if predictor is replay else retriever
    baselines: list[Predictor] = [
        NearestNeighbourCopy(searched),
        ActionCopy(retriever),
        MostFrequentObservation(retriever),
    ]
    if predictor is replay:
        predictor = replay.with_policies(replay.policies, searched)
    else:  # an LLM model is also compared with replay
        baselines.append(replay)
    judge = make_judge(settings.judge.name, settings.judge, settings.provider)
    total = sum(step_counts(test))
    cap = settings.split.heldout_max_steps
    scored = selection_traces(test, cap, "heldout") if 0 < cap < total else list(test)
    measured = sum(len(t.steps) for t in scored)
    counted = (lambda n: clock.advance(n, measured, "held-out steps scored")) if clock else None
    report = evaluate_traces(
        settings.name, predictor, scored, judge, baselines=baselines, on_trace=counted
    )
    if measured < total:
        report.sampled_from = total
    return report


def heldout_reports(
    settings: WmhConfig,
    retriever: IndexRetriever,
    replay: ReplayPredictor,
    evolved: EvolveResult,
    test: Sequence[Trace],
    valid: Sequence[Trace] = (),
    clock: Clock | None = None,
) -> tuple[Answering, EvalReport | None, EvalReport | None]:
    """(what answers which tool, held-out report of the built model, report with the base
    prompt when GEPA changed it); the provider's usage is added to the first report."""
    answering = choose_answering(settings, retriever, replay, evolved.best_prompt, valid)
    predictor, provider = make_predictor(
        settings, retriever, replay, evolved.best_prompt, answering.replay_tools
    )
    heldout = _heldout(settings, predictor, retriever, test, replay, clock)
    heldout_base = None
    if not evolved.skipped and evolved.best_prompt != base_prompt():
        base_predictor, _ = make_predictor(
            settings, retriever, replay, base_prompt(), answering.replay_tools
        )
        heldout_base = _heldout(settings, base_predictor, retriever, test, replay)
    usage = getattr(provider, "usage", None)
    if heldout is not None and usage is not None:
        heldout.usage = usage.as_dict()
    return answering, heldout, heldout_base

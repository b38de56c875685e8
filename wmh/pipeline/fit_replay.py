"""Choose, per tool, the parts of the replay model that earn their place on the data in front of it.

The steps it measures on are the build's train and valid traces, each with its own trace left
out of every lookup (leave-one-trace-out), so even a corpus of a few traces has something to
measure and no step is answered from its own run. First, with the recorded history (open
loop), every combination of retrieval weighting, consensus and adaptation is scored from one
retrieval per step; then session replay and the state overlay, which depend on what the session
has shown, are scored in closed loop (each trace stepped through with the model's own answers).
A tool takes its own choice only with enough steps and a clear gain; otherwise the choice made
over all tools. `NEAREST_COPY` is among the choices, so no tool is fitted below the plain copy.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from wmh.core.canonical import stable_unit_interval
from wmh.core.stored import step_counts, trace_ids
from wmh.core.types import Observation, Session, Step, Trace, Turn
from wmh.engine.agreement import agreement, consensus_of
from wmh.engine.literals import printing_tools
from wmh.engine.policy import FitReport, ReplayPolicies, ReplayPolicy, ToolFit
from wmh.engine.predictor import PredictionContext
from wmh.engine.replay import ReplayPredictor, adapt_answer
from wmh.retrieval.retriever import (
    RERANK_DEPTH,
    IndexRetriever,
    Neighbour,
    Query,
    SearchOnce,
    recent_actions,
    reranked,
)
from wmh.retrieval.text import route_of
from wmh.retrieval.weights import Weights
from wmh.scoring.judges import Judge

WEIGHTINGS = (
    Weights(),
    Weights(task=0.1),
    Weights(history=0.1),
    Weights(task=0.3),
    Weights(history=0.3),
    Weights(task=0.1, history=0.1),
)
CONSENSUS = (0, 5, 10)
MIN_TOOL_STEPS = 20  # fewer measured steps than this: the tool follows the overall choice
MARGIN = 0.01  # a tool's own choice must beat the overall one by this much (mean score)
OVERALL_MARGIN = 0.003  # the overall choice must beat the designed default by this much
MAX_STEPS = 1500  # steps measured at most (whole traces, a stable draw), so big builds stay quick


@dataclass(frozen=True)
class _Config:
    weights: Weights
    consensus: int
    adapt: bool
    corpus: bool
    # A fit keys every step's 48 scores by configuration: its hash is worked out once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_hash", hash((self.weights, self.consensus, self.adapt, self.corpus))
        )

    def __hash__(self) -> int:
        return self._hash

    def policy(self, session_replay: bool = False, overlay: bool = False) -> ReplayPolicy:
        return ReplayPolicy(
            session_replay=session_replay,
            corpus_replay=self.corpus,
            task_weight=self.weights.task,
            history_weight=self.weights.history,
            consensus=self.consensus,
            adapt=self.adapt,
            overlay=overlay,
        )


# Simplest first: among equal scores the earlier configuration wins.
CONFIGS = [
    _Config(w, c, a, corpus)
    for corpus, a, c, w in itertools.product((False, True), (False, True), CONSENSUS, WEIGHTINGS)
]
COPY = CONFIGS[0]
# Per configuration, its weighting's place in WEIGHTINGS and its pick's (weighting and
# consensus) among those of every configuration: a step's orders and picks are made once each.
_PICKS = list(dict.fromkeys((c.weights, c.consensus) for c in CONFIGS))
_PLAN = [(c, WEIGHTINGS.index(c.weights), _PICKS.index((c.weights, c.consensus))) for c in CONFIGS]
ALL_PARTS = _Config(Weights(), 0, True, True)


def selection_traces(
    traces: Sequence[Trace], max_steps: int = MAX_STEPS, salt: str = "fit"
) -> list[Trace]:
    """Whole traces in a stable draw (independent of their order), up to `max_steps` steps
    (read from the traces' ids and sizes: traces held as lines are parsed only if chosen)."""
    ids, counts = trace_ids(traces), step_counts(traces)
    chosen: list[int] = []
    steps = 0
    for number in sorted(range(len(ids)), key=lambda n: stable_unit_interval(ids[n], salt)):
        if steps >= max_steps:
            break
        chosen.append(number)
        steps += counts[number]
    return [traces[number] for number in chosen]


class _Scores:
    """Sum and count of scores per tool and configuration."""

    def __init__(self) -> None:
        self.sums: dict[str, dict[object, float]] = defaultdict(lambda: defaultdict(float))
        self.seen: dict[str, dict[object, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, tool: str, scores: dict[object, float]) -> None:
        sums, seen = self.sums[tool], self.seen[tool]
        for key, value in scores.items():
            sums[key] += value
            seen[key] += 1

    @property
    def counts(self) -> dict[str, int]:
        """Steps measured per tool."""
        return {tool: max(seen.values()) for tool, seen in self.seen.items()}

    def mean(self, tool: str | None, key: object) -> float:
        return self.mean_over([tool] if tool is not None else list(self.seen), key)

    def mean_over(self, tools: Sequence[str], key: object) -> float:
        """The mean score of these tools' steps together."""
        total = sum(self.seen[t][key] for t in tools)
        return sum(self.sums[t][key] for t in tools) / total if total else 0.0


Key = TypeVar("Key")


def _best(scores: _Scores, tool: str | None, keys: Sequence[Key]) -> Key:
    values = [scores.mean(tool, key) for key in keys]
    top = max(values)
    return keys[next(i for i, v in enumerate(values) if v >= top - 1e-9)]


def _choose(
    scores: _Scores, keys: Sequence[Key], prior: Key, fallback: Key | None = None
) -> tuple[Key, dict[str, Key]]:
    """The overall choice and each tool's. A choice moves away from `prior` (the parts as they
    were designed) only on a measured gain: over all tools `OVERALL_MARGIN`, per tool `MARGIN`
    with at least `MIN_TOOL_STEPS` steps; a tie is no evidence. Last, a tool whose `fallback`
    (the plain copy) scored better than its choice takes the fallback."""
    overall = _best(scores, None, keys)
    if scores.mean(None, overall) - scores.mean(None, prior) < OVERALL_MARGIN:
        overall = prior
    per_tool: dict[str, Key] = {}
    for tool, count in scores.counts.items():
        own = _best(scores, tool, keys)
        gain = scores.mean(tool, own) - scores.mean(tool, overall)
        chosen = own if count >= MIN_TOOL_STEPS and gain >= MARGIN else overall
        if fallback is not None and scores.mean(tool, fallback) > scores.mean(tool, chosen) + 1e-9:
            chosen = fallback
        per_tool[tool] = chosen
    return overall, per_tool


def choose_configs(scores: _Scores) -> tuple[_Config, dict[str, _Config]]:
    """The retrieval choices over all tools and per tool (`_choose`), with corpus replay kept
    on for a tool whose measured steps could not tell (none met a recording of its own call in
    another trace, so on and off scored alike): the choice over all tools came from other
    tools' repeated calls, which say nothing of this one's. (On tau-telecom with 20 training
    traces, one tool's stale repeats turned it off for all; a test trace that repeated training
    calls of another tool was then answered from other calls' recordings: 0.635 where the
    plain copy scored 0.758.)"""
    overall, per_tool = _choose(scores, CONFIGS, ALL_PARTS, COPY)
    for tool, config in per_tool.items():
        replaying = replace(config, corpus=True)
        if not config.corpus and scores.mean(tool, replaying) == scores.mean(tool, config):
            per_tool[tool] = replaying
    return overall, per_tool


class _Agreement:
    """The pairwise agreement of the answers of some rows, computed when first asked for."""

    def __init__(self, replay: ReplayPredictor, pools: Sequence[Sequence[Neighbour]]) -> None:
        self.replay = replay
        self.position: dict[int, int] = {}
        for pool in pools:
            for neighbour in pool:
                self.position.setdefault(neighbour.row, len(self.position))
        self._matrix: np.ndarray | None = None

    def among(self, rows: Sequence[int]) -> np.ndarray:
        if self._matrix is None:
            self._matrix = agreement(self.replay._signatures.pool(list(self.position)))
        at = [self.position[row] for row in rows]
        return self._matrix.take(at, axis=0).take(at, axis=1)


class _OpenLoop:
    """Scores every configuration on one step from a single retrieval."""

    def __init__(
        self, replay: ReplayPredictor, judge: Judge, printing: dict[str, bool] | None = None
    ) -> None:
        self.replay = replay
        self.judge = judge
        self.printing = printing or {}  # the tools whose answers show what their calls print

    def _pick(self, ordered: list[Neighbour], consensus: int, shared: _Agreement) -> Neighbour:
        if consensus <= 1 or len(ordered) == 1:
            return ordered[0]
        pool = ordered[:consensus]
        nearness = np.array([n.score for n in pool], dtype=np.float32)
        return pool[consensus_of(shared.among([n.row for n in pool]), nearness)]

    def step_scores(self, trace: Trace, position: int) -> dict[object, float] | None:
        step = trace.steps[position]
        query = Query(
            step.action,
            trace.task,
            recent_actions(trace.steps, position),
            trace.trace_id,
        )
        retriever = self.replay.retriever
        candidates = retriever.candidates(query, RERANK_DEPTH)
        if not candidates:
            return None  # an unrecorded tool: every configuration answers alike
        exact = retriever.exact(query)
        cache: dict[tuple[int, bool], float] = {}
        printing = self.printing.get(route_of(step.action), False)

        def score(recorded: Step, adapt: bool) -> float:
            key = (recorded_row[recorded.id], adapt)
            if key not in cache:
                content = recorded.observation.content
                if adapt:
                    content, _, _ = adapt_answer(
                        content, recorded.action.arguments, step.action.arguments, printing
                    )
                predicted = Observation(content=content, is_error=recorded.observation.is_error)
                cache[key] = self.judge.judge(predicted, step.observation).score
            return cache[key]

        recorded_row: dict[str, int] = {}
        out: dict[object, float] = {}
        orders = reranked(candidates, WEIGHTINGS, max(CONSENSUS))
        # Every consensus pool of this step is drawn from these rows: their answers' pairwise
        # agreement is computed once.
        shared = _Agreement(self.replay, orders)
        picked: list[Neighbour | None] = [None] * len(_PICKS)  # configurations share picks
        exact_step = None
        if exact is not None:
            exact_step = exact.step
            recorded_row[exact_step.id] = exact.row
        for config, weighting, pick in _PLAN:
            if config.corpus and exact_step is not None:
                out[config] = score(exact_step, False)
                continue
            chosen = picked[pick]
            if chosen is None:
                chosen = picked[pick] = self._pick(orders[weighting], config.consensus, shared)
            recorded_row[chosen.step.id] = chosen.row
            out[config] = score(chosen.step, config.adapt)
        return out


def _closed_loop(
    replay: ReplayPredictor, traces: Sequence[Trace], judge: Judge, scores: _Scores, key: object
) -> None:
    """Step each trace with the model's own answers as its history, scoring every step."""
    for trace in traces:
        session = Session(id=f"fit-{key}-{trace.trace_id}", task=trace.task)
        for step in trace.steps:
            predicted = replay.predict(PredictionContext(session, step.action, trace.trace_id))
            score = judge.judge(predicted, step.observation).score
            scores.add(route_of(step.action), {key: score})
            session.history.append(Turn(action=step.action, observation=predicted))


def _printing(policies: ReplayPolicies, printing: dict[str, bool]) -> ReplayPolicies:
    """The policies with the literals on for the tools whose recordings show what their calls
    print (`printing_tools`) and off for every other tool (one with no policy of its own takes
    the default's other parts)."""
    tools = dict(policies.tools)
    for tool in printing:
        tools.setdefault(tool, policies.default)
    return ReplayPolicies(
        default=policies.default.model_copy(update={"literals": False}),
        tools={
            tool: policy.model_copy(update={"literals": printing.get(tool, False)})
            for tool, policy in tools.items()
        },
        use_error_style=policies.use_error_style,
    )


def fit_policies(
    replay: ReplayPredictor,
    known: Sequence[Trace],
    judge: Judge,
    max_steps: int = MAX_STEPS,
    on_step: Callable[[], None] | None = None,
) -> tuple[ReplayPolicies, FitReport]:
    """The replay policies that score best on the `known` (indexed) traces, each left out of
    the index in turn, and what was measured."""
    traces = selection_traces(known, max_steps)
    # The closed loops ask the very searches the open loop asked (their histories hold the
    # recorded actions): each is made once; and recall alike from the corpus under each of
    # their session policies: each recall is made once.
    if isinstance(replay.retriever, IndexRetriever):
        replay = replay.with_policies(replay.policies, SearchOnce.of(replay.retriever))
    replay = replay.recalling_once()
    printing = printing_tools(
        (route_of(step.action), step.action.arguments, step.observation.content)
        for trace in traces
        for step in trace.steps
    )
    measured = _OpenLoop(replay, judge, printing)
    open_scores = _Scores()
    for trace in traces:
        for position, step in enumerate(trace.steps):
            step_scores = measured.step_scores(trace, position)
            if step_scores is not None:
                open_scores.add(route_of(step.action), step_scores)
            if on_step is not None:
                on_step()
    if not open_scores.counts:
        return _printing(ReplayPolicies(), printing), FitReport(
            traces=len(traces), judge=judge.name
        )
    overall, per_tool = choose_configs(open_scores)

    # Session replay and the overlay, in closed loop, on top of the retrieval choices.
    combos: list[tuple[bool, bool]] = [(False, False), (True, False), (False, True), (True, True)]
    closed_scores = _Scores()
    for session_replay, overlay in combos:
        policies = _printing(
            ReplayPolicies(
                default=overall.policy(session_replay, overlay),
                tools={t: c.policy(session_replay, overlay) for t, c in per_tool.items()},
            ),
            printing,
        )
        _closed_loop(
            replay.with_policies(policies), traces, judge, closed_scores, (session_replay, overlay)
        )
    # Without evidence either way, a session shows its own answers again (the parts stay on).
    flags_overall, flags_per_tool = _choose(closed_scores, combos, (True, True), (False, False))
    session_replay, overlay = flags_overall
    tools = {
        tool: config.policy(*flags_per_tool.get(tool, flags_overall))
        for tool, config in per_tool.items()
    }
    policies = _printing(
        ReplayPolicies(default=overall.policy(session_replay, overlay), tools=tools), printing
    )
    # The score and the copy's over the same steps: those of tools another trace recorded
    # (a step of a tool only its own trace called has no copy to compare with).
    recorded = list(open_scores.counts)
    closed_steps = closed_scores.counts
    counted = sum(closed_steps[tool] for tool in recorded)
    report = FitReport(
        steps=counted,
        traces=len(traces),
        unrecorded=sum(closed_steps.values()) - counted,
        judge=judge.name,
        default=policies.default.describe(),
        score=round(
            closed_scores.mean_over(recorded, (session_replay, overlay)), 6
        ),  # overall flags, per-tool retrieval
        nearest_copy=round(open_scores.mean(None, COPY), 6),
        tools={
            tool: ToolFit(
                steps=open_scores.counts[tool],
                policy=tools[tool].describe(),
                score=round(open_scores.mean(tool, per_tool[tool]), 6),
                nearest_copy=round(open_scores.mean(tool, COPY), 6),
                all_parts=round(open_scores.mean(tool, ALL_PARTS), 6),
            )
            for tool in sorted(tools)
        },
    )
    return policies, report

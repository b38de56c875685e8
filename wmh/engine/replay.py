"""The `replay` predictor: answers from recorded observations, with no LLM. Deterministic.

In order, each part used only where the tool's policy (chosen by the build on held-apart steps)
keeps it: the same action earlier in the session (unless the corpus shows that tool's repeated
calls answer differently), the same action in the training corpus (the recording whose context
is most alike), else the nearest recorded call of the same tool — or the answer most in agreement
among the nearest few — with its argument values swapped for the current ones; for a tool the
corpus never saw, the environment's own error. Whatever is recalled is then brought in line with
the records the session has already shown, its seed state's first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import numpy as np

from wmh.core.types import Action, ActionKind, Observation, Session
from wmh.engine.adapt import adapt_observation
from wmh.engine.agreement import SignatureCache, StoredSignatures, agreement, consensus_of
from wmh.engine.consistency import Record, apply_session_state, seed_records, turn_records
from wmh.engine.learnt import ErrorStyle
from wmh.engine.literals import with_printed
from wmh.engine.policy import ReplayPolicies, ReplayPolicy
from wmh.engine.predictor import PredictionContext, context_query
from wmh.retrieval.retriever import Neighbour, Query, Retriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import action_text, route_of

SESSIONS_KEPT = 4096  # sessions whose replay memory is kept between steps
AGREEMENTS_KEPT = 4096  # consensus pools whose answers' agreement is kept


class SessionMemory:
    """What the replay model keeps of one session between steps, so a step costs the same at
    turn 3 and turn 300: the last answer to each call, the records the session showed, and of
    them the ones it set (its seed state's, and those its writes sent and answered)."""

    __slots__ = ("turns", "last_key", "answers", "records", "written")

    def __init__(self) -> None:
        self.turns = 0
        self.last_key = ""
        self.answers: dict[str, Observation] = {}
        self.records: list[Record] = []
        self.written: list[Record] = []

    def catch_up(self, session: Session, writers: frozenset[str] = frozenset()) -> SessionMemory:
        history = session.history
        stale = len(history) < self.turns or (
            self.turns and history[self.turns - 1].action.key() != self.last_key
        )
        memory = self
        if stale or (not self.turns and not self.records):
            memory = SessionMemory()
            seeded = seed_records(session.state.structured)
            memory.records.extend(seeded)
            memory.written.extend(seeded)
        for turn in history[memory.turns :]:
            memory.answers[turn.action.key()] = turn.observation
            shown = turn_records(turn)
            memory.records.extend(shown)
            if turn.action.name in writers:
                memory.written.extend(shown)
        memory.turns = len(history)
        memory.last_key = history[-1].action.key() if history else ""
        return memory


class ReplayPredictor:
    """Exact replay, then neighbour adaptation, then the learnt unknown-tool error."""

    name = "replay"

    def __init__(
        self,
        retriever: Retriever,
        error_style: ErrorStyle,
        top_k: int = 5,
        repeat_reliability: Mapping[str, float] | None = None,
        state_writers: Iterable[str] = (),
        policies: ReplayPolicies | None = None,
        signatures: StoredSignatures | None = None,
    ) -> None:
        self.retriever = retriever
        self.error_style = error_style
        self.top_k = top_k
        self.repeat_reliability = dict(repeat_reliability or {})
        self.policies = policies or ReplayPolicies()
        # Tools whose repeated calls mostly answered differently in the corpus: no session replay.
        # Tools whose answers carry a changed record: never overlay older session state on them.
        self.state_writers = frozenset(state_writers)
        self.stale_tools = frozenset(
            tool for tool, share in (repeat_reliability or {}).items() if share < 0.5
        )
        self._memories: OrderedDict[str, SessionMemory] = OrderedDict()
        # Answers' signatures for the consensus: the ones the build stored, else made when
        # first asked for. (Over the table, not this predictor: a cache holding its owner would
        # keep the whole table, every parsed step, alive until the cyclic collector came by.)
        self.signatures = signatures
        self._signatures = SignatureCache(partial(_content_of, retriever.table), signatures)
        self._agreements: dict[tuple[int, ...], np.ndarray] = {}
        self._recalled: dict[tuple[object, ...], Observation] | None = None

    def with_policies(
        self, policies: ReplayPolicies, retriever: Retriever | None = None
    ) -> ReplayPredictor:
        """The same predictor answering by other policies (ablations, fitting), or over
        another retriever."""
        retriever = retriever or self.retriever
        same_rows = retriever.table is self.retriever.table
        other = ReplayPredictor(
            retriever,
            self.error_style,
            self.top_k,
            self.repeat_reliability,
            self.state_writers,
            policies,
            self.signatures if same_rows else None,
        )
        if same_rows:  # their signatures and agreements too
            other._signatures = self._signatures
            other._agreements = self._agreements
        if retriever is self.retriever:
            other._recalled = self._recalled
        return other

    def recalling_once(self) -> ReplayPredictor:
        """This predictor remembering what it recalls from the corpus, per query and retrieval
        policy, and sharing that with its `with_policies` copies: a fit steps the same traces
        under several session policies, whose queries and retrieval parts are the same (a
        recall is a function of them and of whether the learnt error style is used; only
        session replay and the overlay read the session)."""
        other = self.with_policies(self.policies)
        other._recalled = {}
        return other

    def consensus_signatures(self) -> StoredSignatures | None:
        """The signatures of every row of the tools whose policy takes a consensus (to keep
        with the model); None when no tool's does."""
        table = self.retriever.table
        uses = {route: self.policies.of(route).consensus > 1 for route in set(table.routes)}
        rows = [row for row, route in enumerate(table.routes) if uses[route]]
        return StoredSignatures.of(rows, partial(_content_of, table)) if rows else None

    def forget(self, session_id: str) -> None:
        """Drop what this predictor keeps of an ended session (its answers and records would
        otherwise stay until `SESSIONS_KEPT` newer sessions had pushed them out: a server's
        memory, and the collector's work, grew with the sessions it had ever served)."""
        self._memories.pop(session_id, None)

    def _memory(self, session: Session) -> SessionMemory:
        memory = self._memories.pop(session.id, None) or SessionMemory()
        memory = memory.catch_up(session, self.state_writers)
        self._memories[session.id] = memory
        if len(self._memories) > SESSIONS_KEPT:
            self._memories.popitem(last=False)
        return memory

    def predict(self, context: PredictionContext) -> Observation:
        action = context.action
        policy = self.policies.of(route_of(action))
        session = context.session
        memory = self._memory(session) if session.history or session.state.structured else None
        observation = self._recall(context, policy, memory)
        if memory is None or observation.is_error or action.name in self.state_writers:
            return observation
        # The overlay: every record the session showed; without it (where it did not pay on
        # the build's traces, whose reads are recalled, not seen), still the records the
        # session set: a reservation it cancelled is not read back as active.
        shown = memory.records if policy.overlay else memory.written
        if not policy.overlay and not shown:
            return observation
        content, changed = apply_session_state(
            observation.content, session.history, action.arguments, shown
        )
        if not changed:
            return observation
        metadata = {**observation.metadata, "session_updates": changed}
        return observation.model_copy(update={"content": content, "metadata": metadata})

    def _recall(
        self, context: PredictionContext, policy: ReplayPolicy, memory: SessionMemory | None
    ) -> Observation:
        action = context.action
        if policy.session_replay and memory is not None and action.name not in self.stale_tools:
            earlier = memory.answers.get(action.key())
            if earlier is not None:
                return _tagged(earlier, "session_replay")
        query = context_query(context)
        if self._recalled is None:
            return self._from_corpus(query, policy)
        key = (
            route_of(action),
            action_text(action),
            query.task,
            tuple(action_text(a) for a in query.recent),
            query.exclude_trace,
            policy.corpus_replay,
            policy.weights(),
            policy.consensus,
            policy.adapt,
            policy.literals,
            self.policies.use_error_style,
        )
        recalled = self._recalled.get(key)
        if recalled is None:
            recalled = self._recalled[key] = self._from_corpus(query, policy)
        return recalled

    def _from_corpus(self, query: Query, policy: ReplayPolicy) -> Observation:
        """The answer recalled from the recorded corpus (the same call, else a neighbour)."""
        action = query.action
        if policy.corpus_replay:
            exact = self.retriever.exact(query)
            if exact is not None:
                return _tagged(exact.step.observation, "corpus_replay", exact.step.id)
        depth = max(self.top_k, policy.consensus, 1)
        neighbours = self.retriever.neighbours(query, depth, policy.weights())
        if not neighbours:
            return self._unrecorded(action)
        best = self._choose(neighbours, policy)
        recorded = best.step
        if action.kind is ActionKind.MESSAGE:
            return _tagged(recorded.observation, "nearest_message", recorded.id)
        source = "nearest_copy" if best is neighbours[0] else "consensus_neighbour"
        if not policy.adapt:
            return _tagged(recorded.observation, source, recorded.id)
        content, replaced, printed = adapt_answer(
            recorded.observation.content,
            recorded.action.arguments,
            action.arguments,
            policy.literals,
        )
        if not replaced and not printed:
            return _tagged(recorded.observation, source, recorded.id)
        observation = recorded.observation.model_copy(update={"content": content})
        tagged = _tagged(observation, "adapted_neighbour", recorded.id)
        if replaced:
            tagged.metadata["replacements"] = replaced
        if printed:
            tagged.metadata["printed"] = printed
        return tagged

    def _choose(self, neighbours: list[Neighbour], policy: ReplayPolicy) -> Neighbour:
        if policy.consensus <= 1 or len(neighbours) == 1:
            return neighbours[0]
        pool = neighbours[: policy.consensus]
        rows = tuple(n.row for n in pool)
        # The answers' pairwise agreement depends on the rows alone (their nearness, on the
        # session's context, is weighed after): a pool asked again is not compared again.
        agree = self._agreements.get(rows)
        if agree is None:
            agree = agreement(self._signatures.pool(list(rows)))
            if len(self._agreements) >= AGREEMENTS_KEPT:
                self._agreements.clear()
            self._agreements[rows] = agree
        nearness = np.array([n.score for n in pool], dtype=np.float32)
        return pool[consensus_of(agree, nearness)]

    def _unrecorded(self, action: Action) -> Observation:
        if action.kind is ActionKind.MESSAGE:
            return Observation(content="", metadata={"source": "no_recording"})
        style = self.error_style if self.policies.use_error_style else ErrorStyle()
        return Observation(
            content=style.render(action.name), is_error=True, metadata={"source": "unknown_tool"}
        )


def adapt_answer(
    content: str, recorded: dict[str, Any], current: dict[str, Any], literals: bool
) -> tuple[str, int, list[tuple[str, str]]]:
    """A neighbour's answer adapted to the current call, as the replay model and its fit both
    adapt it: its argument values swapped (`adapt_observation`, how many), and with `literals`,
    the lines its call printed for certain made the current call's (`with_printed`)."""
    content, replaced = adapt_observation(content, recorded, current)
    printed: list[tuple[str, str]] = []
    if literals:
        content, printed = with_printed(content, recorded, current)
    return content, replaced, printed


def _content_of(table: StepTable, row: int) -> str:
    """A row's answer text (what its signature is made of)."""
    return table.observation_of(row)[0]


def _tagged(observation: Observation, source: str, step_id: str | None = None) -> Observation:
    metadata = {k: v for k, v in observation.metadata.items() if k != "tool_call_id"}
    metadata["source"] = source
    if step_id is not None:
        metadata["from_step"] = step_id
    return observation.model_copy(update={"metadata": metadata})

"""The `replay` predictor: answers from recorded observations, with no LLM. Deterministic.

In order: the same action earlier in the session (unless the corpus shows that tool's repeated
calls answer differently), the same action in the training corpus (the
recording whose context is most alike), a neighbour of the same tool with its argument values
swapped for the current ones, and for a tool the corpus never saw, the environment's own error.
Whatever is recalled is then brought in line with the records the session has already shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wmh.core.types import Action, ActionKind, Observation
from wmh.engine.adapt import adapt_observation, argument_leaves
from wmh.engine.consistency import apply_session_state
from wmh.engine.learnt import ErrorStyle
from wmh.engine.predictor import PredictionContext, context_query
from wmh.retrieval.retriever import Neighbour, Retriever


def _argument_agreement(a: dict[str, Any], recorded: Action) -> float:
    """Share of argument leaves (path and value) two calls have in common, in [0, 1]; `a` is
    the current call's leaves."""
    b = argument_leaves(recorded.arguments)
    if not a and not b:
        return 1.0
    same_keys = len(a.keys() & b.keys()) / max(len(a.keys() | b.keys()), 1)
    same_values = sum(1 for k in a.keys() & b.keys() if a[k] == b[k]) / max(len(a), len(b), 1)
    return 0.5 * same_keys + 0.5 * same_values


def choose_template(action: Action, neighbours: list[Neighbour]) -> Neighbour:
    """The neighbour best suited to adaptation: similar context and the same argument shape."""
    leaves = argument_leaves(action.arguments)
    return max(
        neighbours,
        key=lambda n: (n.score + 0.5 * _argument_agreement(leaves, n.step.action), -n.row),
    )


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
    ) -> None:
        self.retriever = retriever
        self.error_style = error_style
        self.top_k = top_k
        self.repeat_reliability = dict(repeat_reliability or {})
        # Tools whose repeated calls mostly answered differently in the corpus: no session replay.
        # Tools whose answers carry a changed record: never overlay older session state on them.
        self.state_writers = frozenset(state_writers)
        self.stale_tools = frozenset(
            tool for tool, share in (repeat_reliability or {}).items() if share < 0.5
        )

    def predict(self, context: PredictionContext) -> Observation:
        observation = self._recall(context)
        if (
            observation.is_error
            or not context.session.history
            or context.action.name in self.state_writers
        ):
            return observation
        content, changed = apply_session_state(
            observation.content, context.session.history, context.action.arguments
        )
        if not changed:
            return observation
        metadata = {**observation.metadata, "session_updates": changed}
        return observation.model_copy(update={"content": content, "metadata": metadata})

    def _recall(self, context: PredictionContext) -> Observation:
        action = context.action
        session = context.session
        key = action.key()
        if action.name not in self.stale_tools:
            for turn in reversed(session.history):
                if turn.action.key() == key:
                    return _tagged(turn.observation, "session_replay")
        query = context_query(context)
        exact = self.retriever.exact(query)
        if exact:
            return _tagged(exact[0].step.observation, "corpus_replay", exact[0].step.id)
        neighbours = self.retriever.neighbours(query, self.top_k)
        if neighbours:
            best = choose_template(action, neighbours)
            recorded = best.step
            if action.kind is ActionKind.MESSAGE:
                return _tagged(recorded.observation, "nearest_message", recorded.id)
            content, replaced = adapt_observation(
                recorded.observation.content, recorded.action.arguments, action.arguments
            )
            observation = recorded.observation.model_copy(update={"content": content})
            tagged = _tagged(observation, "adapted_neighbour", recorded.id)
            tagged.metadata["replacements"] = replaced
            return tagged
        if action.kind is ActionKind.MESSAGE:
            return Observation(content="", metadata={"source": "no_recording"})
        return Observation(
            content=self.error_style.render(action.name),
            is_error=True,
            metadata={"source": "unknown_tool"},
        )


def _tagged(observation: Observation, source: str, step_id: str | None = None) -> Observation:
    metadata = {k: v for k, v in observation.metadata.items() if k != "tool_call_id"}
    metadata["source"] = source
    if step_id is not None:
        metadata["from_step"] = step_id
    return observation.model_copy(update={"metadata": metadata})

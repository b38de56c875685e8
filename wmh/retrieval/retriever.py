"""Retriever: the nearest recorded steps of the same tool, never from a held-out trace.

The index finds the calls most alike in themselves; the context columns then score each of them
for a like task and a like history, and the caller's `Weights` say how much those count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Protocol

import numpy as np

from wmh.core.memo import TextCache
from wmh.core.types import Action, Step, Turn
from wmh.retrieval.context import ContextColumns, history_vector, task_vector
from wmh.retrieval.embedders import Embedder
from wmh.retrieval.index import Keep, PartitionedIndex
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import HISTORY_WINDOW, QueryText, action_text, query_text, route_of
from wmh.retrieval.weights import Weights

RERANK_DEPTH = 64  # calls fetched by likeness before the context re-ranks them
EXACT_MAX = 256  # recordings of one exact call compared by context
SEARCHES_KEPT = 4096  # a serving retriever's searches kept (see `IndexRetriever._search`)
SEARCHED_CHARS = 2048  # of a call's text longer than this, the search is not kept


class Neighbour:
    """A recorded step found for a query, with the parts of its score; the step is parsed
    only when asked for."""

    __slots__ = ("row", "score", "action_score", "task_score", "history_score", "_table")

    def __init__(
        self,
        row: int,
        score: float,
        table: StepTable,
        action_score: float | None = None,
        task_score: float = 0.0,
        history_score: float = 0.0,
    ) -> None:
        self.row = row
        self.score = score
        self.action_score = score if action_score is None else action_score
        self.task_score = task_score
        self.history_score = history_score
        self._table = table

    @property
    def step(self) -> Step:
        return self._table.step(self.row)

    def __repr__(self) -> str:
        return f"Neighbour(row={self.row}, score={self.score:.4f})"


@dataclass(frozen=True, slots=True)
class Query:
    """An action in its context; `exclude_trace` keeps evaluation leak-free."""

    action: Action
    task: str = ""
    recent: tuple[Action, ...] = ()
    exclude_trace: str | None = None


class Retriever(Protocol):
    table: StepTable

    def neighbours(self, query: Query, k: int, weights: Weights | None = None) -> list[Neighbour]:
        """The k best recorded steps of the query's tool, by likeness (and context weights)."""
        ...

    def candidates(self, query: Query, depth: int = RERANK_DEPTH) -> list[Neighbour]:
        """Up to `depth` steps by likeness of the call alone, with every score part filled."""
        ...

    def exact(self, query: Query) -> Neighbour | None:
        """The recording of the very same call made in the most alike context, if any."""
        ...

    def longest_observation(self, route: str) -> str:
        """The longest recorded observation of a tool among the rows lookups may return."""
        ...


def reranked(
    candidates: Sequence[Neighbour], weightings: Sequence[Weights | None], limit: int | None = None
) -> list[list[Neighbour]]:
    """The candidates ordered by each weighting: by likeness plus weighted context (ties: the
    more alike task, then the earlier row), scores and ties to 6 decimals; with `limit` (0 or
    more), the first that many of each order. A fit orders every step's candidates by six
    weightings: the ties' keys are made once, and each order is a sort of plain tuples.
    Rounding never reorders scores (it only makes some equal), so with a `limit` only the
    scores down to the last one tied with the limit's are rounded and sorted."""
    ties = [(-round(c.task_score, 6), c.row) for c in candidates]
    orders = []
    for weights in weightings:
        if not weights:
            orders.append(list(candidates[:limit]))
            continue
        task, history = weights.task, weights.history
        scores = [
            c.action_score + task * c.task_score + history * c.history_score for c in candidates
        ]
        keyed: list[tuple[float, tuple[float, int], int]] = []
        for i in sorted(range(len(scores)), key=scores.__getitem__, reverse=True):
            rounded = -round(scores[i], 6)
            if limit is not None and len(keyed) >= limit and (not keyed or rounded != keyed[-1][0]):
                break
            keyed.append((rounded, ties[i], i))
        keyed.sort()
        order = []
        for _, _, i in keyed[:limit]:
            c = candidates[i]
            order.append(
                Neighbour(c.row, scores[i], c._table, c.action_score, c.task_score, c.history_score)
            )
        orders.append(order)
    return orders


class IndexRetriever:
    """Retriever over a PartitionedIndex built from a StepTable with one embedder.

    `hidden` traces stay in the index but are never returned: a build measures its held-out
    traces against the rest of a single index, then publishes the index with all of them."""

    def __init__(
        self,
        table: StepTable,
        index: PartitionedIndex,
        embedder: Embedder,
        context: ContextColumns | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        self.table = table
        self.index = index
        self.embedder = embedder
        self.context = context
        self.hidden = hidden
        # Exact lookups and neighbour searches of one prediction embed the same text. (Over the
        # embedder, not this retriever: a cache holding its owner would keep the table alive
        # until the cyclic garbage collector came by.) An embedder with a one-query path (the
        # hashing one's `embed_one`) is asked through it, without a batch's dedupe and stack.
        one = getattr(embedder, "embed_one", None)
        self._embed_text = TextCache(
            one or partial(_embed_one, embedder), 4096, 2_000_000, length=_query_length
        )
        # Searches that left nothing out, by what they searched with: the same call is asked
        # again and again while serving (an RL loop's episodes of one task), and its search
        # is the same each time (the index does not change).
        self._searched: dict[tuple[str, object, int], tuple[np.ndarray, np.ndarray]] = {}
        self._follows_action = bool(getattr(embedder, "vectors_follow_action", False))

    def hiding(self, trace_ids: frozenset[str]) -> IndexRetriever:
        """The same index with these traces never returned."""
        return IndexRetriever(self.table, self.index, self.embedder, self.context, trace_ids)

    def _vector(self, query: Query) -> np.ndarray:
        return self._embed_text(query_text(query.action, query.task, query.recent))

    @cached_property
    def _hidden_rows(self) -> np.ndarray | None:
        """Per row, whether its trace is hidden (None when none is)."""
        if not self.hidden:
            return None
        codes, code_of = self.table.trace_codes
        hidden = [code_of[t] for t in self.hidden if t in code_of]
        return np.isin(codes, np.asarray(hidden, dtype=np.int32))

    def longest_observation(self, route: str) -> str:
        """The longest recorded observation of a tool among the rows lookups may return (its
        hidden traces left out); "" when there is none."""
        part = self.index.partitions.get(route)
        if part is None:
            return ""
        rows = np.arange(part.start, part.end)
        hidden = self._hidden_rows
        if hidden is not None:
            rows = rows[~hidden[rows]]
        return self.table.longest_observation(rows)

    def _keep(self, query: Query) -> Keep | None:
        excluded, hidden = query.exclude_trace, self._hidden_rows
        if excluded is None and hidden is None:
            return None
        codes, code_of = self.table.trace_codes
        code = code_of.get(excluded, -1) if excluded is not None else -1
        if hidden is None:
            return lambda rows: codes[rows] != code
        return lambda rows: (codes[rows] != code) & ~hidden[rows]

    def _context_scores(
        self, query: Query, rows: np.ndarray, weights: Weights | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(task, history) similarity of rows: both, or (with `weights`) the weighted ones."""
        zeros = np.zeros(len(rows), dtype=np.float32)
        context = self.context
        if context is None or not len(rows):
            return zeros, zeros
        task = (
            context.task_scores(rows, task_vector(query.task))
            if weights is None or weights.task
            else zeros
        )
        history = (
            context.history_scores(rows, history_vector(query.recent))
            if weights is None or weights.history
            else zeros
        )
        return task, history

    def _search(self, query: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        route = route_of(query.action)
        if route not in self.index.partitions:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        keep = self._keep(query)
        if keep is not None:  # (a build's and an evaluation's: each trace left out in turn)
            return self.index.search(route, self._vector(query), k, keep)
        # What the query's vector is made of: its call's text alone, when the embedder's
        # vectors follow the call (the hashing one's, by default), else the whole query text.
        text: object = (
            action_text(query.action)
            if self._follows_action
            else query_text(query.action, query.task, query.recent)
        )
        key = (route, text, k)
        found = self._searched.get(key)
        if found is None:
            rows, scores = self.index.search(route, self._vector(query), k, None)
            chars = len(text) if isinstance(text, str) else len(text.joined())  # type: ignore[attr-defined]
            if chars > SEARCHED_CHARS:  # (kept, long calls' keys held gigabytes)
                return rows, scores
            rows.setflags(write=False)  # shared by every caller that asks it again
            scores.setflags(write=False)
            if len(self._searched) >= SEARCHES_KEPT:
                self._searched.clear()
            found = self._searched[key] = (rows, scores)
        return found

    def candidates(self, query: Query, depth: int = RERANK_DEPTH) -> list[Neighbour]:
        rows, scores = self._search(query, depth)
        task, history = self._context_scores(query, rows, None)
        return [
            Neighbour(r, s, self.table, s, t, h)
            for r, s, t, h in zip(
                rows.tolist(), scores.tolist(), task.tolist(), history.tolist(), strict=True
            )
        ]

    def neighbours(self, query: Query, k: int, weights: Weights | None = None) -> list[Neighbour]:
        if not weights or self.context is None:
            rows, scores = self._search(query, k)
            pairs = zip(rows.tolist(), scores.tolist(), strict=True)
            return [Neighbour(r, s, self.table) for r, s in pairs]
        rows, scores = self._search(query, max(k, RERANK_DEPTH))
        # The task always breaks ties: of identical calls, the one made in the like task.
        task, history = self._context_scores(query, rows, Weights(1.0, weights.history))
        combined = scores.astype(np.float64) + weights.task * task + weights.history * history
        order = np.lexsort((rows, -np.round(task, 6), -np.round(combined, 6)))[:k]
        # The chosen rows' numbers as Python's, each array taken once (not a numpy scalar each).
        parts = (rows[order], combined[order], scores[order], task[order], history[order])
        return [
            Neighbour(r, c, self.table, s, t, h)
            for r, c, s, t, h in zip(*(part.tolist() for part in parts), strict=True)
        ]

    def exact(self, query: Query) -> Neighbour | None:
        """The recording of the very same call made in the most alike context (task plus
        history, to 6 decimals; ties: the first row), if any; when every recording of the call
        answered alike, the first (no context can choose another answer)."""
        key = query.action.key()
        rows = self.table.exact.get(key, [])
        keep = self._keep(query)
        if keep is not None and rows:
            found = np.asarray(rows)
            rows = found[keep(found)].tolist()
        if not rows:
            return None
        if len(rows) == 1 or self.context is None or self.table.answers_alike(key):
            return Neighbour(rows[0], 1.0, self.table)
        index = np.asarray(rows[:EXACT_MAX])  # in row order: the first best is the first row
        task, history = self._context_scores(query, index, None)
        best = int(np.argmax(np.round(task + history, 6)))
        return Neighbour(
            int(index[best]), 1.0, self.table, 1.0, float(task[best]), float(history[best])
        )


def _query_length(args: tuple[QueryText]) -> int:
    """The characters of a query text (`TextCache`'s measure of its one argument)."""
    return len(args[0].action) + len(args[0].context)


def _embed_one(embedder: Embedder, text: QueryText) -> np.ndarray:
    return embedder.embed([text])[0]


class SearchOnce(IndexRetriever):
    """An index retriever that remembers its searches (for the length of a fit, whose closed
    loops repeat the searches of its open loop, or of a held-out check, where the copy baseline
    asks what the model just asked). A search for fewer rows than one remembered is its first
    rows: a search's rows are the best by score, ties by row, cut at `k` (exactly so on a flat
    index; an approximate one may cut rows of exactly equal score otherwise)."""

    @classmethod
    def of(cls, retriever: IndexRetriever) -> SearchOnce:
        return cls(
            retriever.table, retriever.index, retriever.embedder, retriever.context,
            retriever.hidden,
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[tuple[str, QueryText, str | None], tuple[int, np.ndarray, np.ndarray]]
        self._memo = {}

    def _search(self, query: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        # (The route too: a message's text, `say ...`, can be a call's of a tool named `say`.)
        key = (
            route_of(query.action),
            query_text(query.action, query.task, query.recent),
            query.exclude_trace,
        )
        found = self._memo.get(key)
        if found is None or found[0] < k:
            rows, scores = super()._search(query, k)
            self._memo[key] = (k, rows, scores)
            return rows, scores
        _, rows, scores = found
        return rows[:k], scores[:k]


def recent_actions(turns: Sequence[Step] | Sequence[Turn], before: int) -> tuple[Action, ...]:
    """The actions of the steps or turns just before `before`, oldest first: as many as a
    query's texts use (`HISTORY_WINDOW`)."""
    return tuple(t.action for t in turns[max(0, before - HISTORY_WINDOW) : before])

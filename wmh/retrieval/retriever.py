"""Retriever: the nearest recorded steps of the same tool, never from a held-out trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from wmh.core.types import Action, Step
from wmh.retrieval.embedders import Embedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import QueryText, query_text, route_of


@dataclass(frozen=True, slots=True)
class Neighbour:
    row: int
    score: float
    step: Step


@dataclass(frozen=True, slots=True)
class Query:
    """An action in its context; `exclude_trace` keeps evaluation leak-free."""

    action: Action
    task: str = ""
    recent: tuple[Action, ...] = ()
    exclude_trace: str | None = None


class Retriever(Protocol):
    table: StepTable

    def neighbours(self, query: Query, k: int) -> list[Neighbour]: ...

    def exact(self, query: Query) -> list[Neighbour]: ...


class IndexRetriever:
    """Retriever over a PartitionedIndex built from a StepTable with one embedder."""

    def __init__(self, table: StepTable, index: PartitionedIndex, embedder: Embedder) -> None:
        self.table = table
        self.index = index
        self.embedder = embedder
        # Exact lookups and neighbour searches of one prediction embed the same text.
        self._embed_text = lru_cache(maxsize=4096)(self._embed_uncached)

    def _embed_uncached(self, text: QueryText) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def _vector(self, query: Query) -> np.ndarray:
        return self._embed_text(query_text(query.action, query.task, query.recent))

    def _keep(self, query: Query):  # noqa: ANN202 - a small closure
        if query.exclude_trace is None:
            return None
        trace_ids = self.table.trace_ids
        excluded = query.exclude_trace
        return lambda row: trace_ids[row] != excluded

    def neighbours(self, query: Query, k: int) -> list[Neighbour]:
        route = route_of(query.action)
        if route not in self.index.partitions:
            return []
        hits = self.index.search(route, self._vector(query), k, self._keep(query))
        return [Neighbour(row, score, self.table.step(row)) for row, score in hits]

    def exact(self, query: Query) -> list[Neighbour]:
        """Recorded steps with the same action key, the most similar in context first."""
        rows = self.table.exact.get(query.action.key(), [])
        if query.exclude_trace is not None:
            rows = [r for r in rows if self.table.trace_ids[r] != query.exclude_trace]
        if len(rows) <= 1:
            return [Neighbour(r, 1.0, self.table.step(r)) for r in rows]
        vector = self._vector(query)
        route = route_of(query.action)
        scored = [(float(self.index.vector(r, route) @ vector), r) for r in rows[:256]]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [Neighbour(r, s, self.table.step(r)) for s, r in scored]


def recent_actions(steps: Sequence[Step], before: int) -> tuple[Action, ...]:
    """The actions of a trace before step `before`, oldest first."""
    return tuple(s.action for s in steps[:before])

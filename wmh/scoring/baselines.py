"""Reference predictors that every fidelity figure is printed beside.

`nn_copy` copies the nearest recorded step of the same tool as it is (no adaptation, no session);
`action_copy` the same by character n-grams of the call alone, computed exactly (no index);
`most_frequent` answers each tool with its most frequent recorded observation.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import sparse

from wmh.core.types import Observation
from wmh.engine.predictor import PredictionContext, context_query
from wmh.retrieval.hashing import HASHED_AT_ONCE, batches, call_ngrams, ngram_hashes_of, spaced
from wmh.retrieval.retriever import Retriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import MESSAGE_ROUTE, action_text, call_text, route_of

BEST_KEPT = 1 << 16  # call texts whose best text `action_copy` keeps


class NearestNeighbourCopy:
    name = "nn_copy"

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def predict(self, context: PredictionContext) -> Observation:
        query = context_query(context)
        hits = self.retriever.neighbours(query, 1)
        if not hits:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        return hits[0].step.observation.model_copy(update={"metadata": {"source": "nn_copy"}})


class MostFrequentObservation:
    """Each tool's most frequent recorded answer, counted once over the rows the retriever does
    not hide: unlike the copies, it does not leave out a query's `exclude_trace`, so the traces
    it scores must be hidden from the retriever (as `wmh eval`, the build and the studies do)."""

    name = "most_frequent"

    def __init__(self, retriever: Retriever) -> None:
        table = retriever.table
        hidden: frozenset[str] = getattr(retriever, "hidden", frozenset())
        rows: dict[str, list[int]] = {}
        for row, (route, trace_id) in enumerate(zip(table.routes, table.trace_ids, strict=True)):
            if trace_id not in hidden:
                rows.setdefault(route, []).append(row)
        # Counted as read: only each tool's distinct answers are held.
        counts = {route: Counter(map(table.observation_of, found)) for route, found in rows.items()}
        # Ties go to the text that sorts first, so the baseline is deterministic.
        self._answers = {
            route: min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
            for route, counter in counts.items()
        }

    def predict(self, context: PredictionContext) -> Observation:
        answer = self._answers.get(route_of(context.action))
        if answer is None:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        return Observation(
            content=answer[0], is_error=answer[1], metadata={"source": "most_frequent"}
        )


class ActionCopy:
    """Copies the recorded call most alike in tool name and arguments alone: cosine of the
    character 3–4-gram counts of `name + canonical JSON arguments`, no task, no history. The
    plainest world model there is, and the bar every other one must clear."""

    name = "action_copy"

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._groups, self._postings = _call_postings(retriever.table)
        # Per (route, call text) asked, its best text: a held-out sample repeats calls (at 100k
        # synthetic steps, 2,001 held-out steps made 1,056 distinct calls), and a call's scores
        # never change; they are computed again only when that text's first row is left out.
        self._best: dict[tuple[str, str], int] = {}

    def predict(self, context: PredictionContext) -> Observation:
        route = route_of(context.action)
        if route not in self._groups:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        row = self._first_kept(route, action_text(context.action), context.exclude_trace)
        if row is None:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        step = self.retriever.table.step(row)
        return step.observation.model_copy(update={"metadata": {"source": self.name}})

    def _first_kept(self, route: str, text: str, excluded: str | None) -> int | None:
        """The first row, by best score and then row order, of a trace neither excluded nor
        hidden (what a stable sort of every row by score would give)."""
        groups = self._groups[route]
        trace_ids = self.retriever.table.trace_ids
        hidden: frozenset[str] = getattr(self.retriever, "hidden", frozenset())

        def kept(row: int) -> bool:
            return trace_ids[row] != excluded and trace_ids[row] not in hidden

        best = self._best.get((route, text))
        scores = None
        if best is None:
            scores = self._postings[route].cosines(text)
            best = int(np.argmax(scores))  # the first of the best texts holds the first best row
            if len(self._best) < BEST_KEPT:
                self._best[(route, text)] = best
        if kept(int(groups[best][0])):
            return int(groups[best][0])
        if scores is None:
            scores = self._postings[route].cosines(text)
        order = np.argsort(-scores, kind="stable")
        start = 0
        while start < len(order):  # texts of one score together: their rows in row order
            end = start + 1
            while end < len(order) and scores[order[end]] == scores[order[start]]:
                end += 1
            rows = np.sort(np.concatenate([groups[i] for i in order[start:end]]))
            for row in rows.tolist():
                if kept(row):
                    return int(row)
            start = end
        return None


def _call_postings(
    table: StepTable,
) -> tuple[dict[str, list[np.ndarray]], dict[str, _Postings]]:
    """Per route, each distinct call text once (in the order of its first row) with the rows
    that made it, and their postings: a corpus repeats many calls, and a query costs the
    postings it touches. A tool call's text is made from its exact-replay key (`call_text`), so
    tool rows are grouped by the table's keys (in first-row order) without parsing a step; a
    message's text keeps the white space its key strips, so message rows are read one by one."""
    groups: dict[str, dict[str, list[int]]] = {}
    for key, rows in table.exact.items():
        route = table.routes[rows[0]]
        if route != MESSAGE_ROUTE:
            groups.setdefault(route, {})[call_text(route, key)] = list(rows)
    messages = [row for row, route in enumerate(table.routes) if route == MESSAGE_ROUTE]
    for row, step in zip(messages, table.steps(messages), strict=True):
        groups.setdefault(MESSAGE_ROUTE, {}).setdefault(action_text(step.action), []).append(row)
    return (
        {route: [np.asarray(rows) for rows in texts.values()] for route, texts in groups.items()},
        {route: _Postings.of(list(texts)) for route, texts in groups.items()},
    )


class _Postings:
    """Texts as unit vectors of their character 3–4-gram counts, stored by n-gram (a sparse
    matrix by column): a query's cosine with every text touches only its own n-grams' columns.
    The n-grams are hashed as the hashing embedder hashes them (runs of white space as one
    space), to 64 bits; with that embedder, a query's are the ones its embedding just hashed."""

    def __init__(self, features: np.ndarray, matrix: sparse.csc_matrix) -> None:
        self.features = features  # the n-gram hashes, sorted: one column each
        self.matrix = matrix  # texts x n-grams

    @classmethod
    def of(cls, texts: list[str]) -> _Postings:
        # Per batch of texts, each (n-gram, text) pair once with how often the text has it (a
        # batch's n-grams are held about 5 times over while they are counted, its pairs not).
        hashes, owners, counts = [], [], []
        for first, batch in batches([spaced(t) for t in texts], HASHED_AT_ONCE, len(texts)):
            owner, mixed = ngram_hashes_of(batch)
            order = np.lexsort((owner, mixed))
            owner, mixed = owner[order], mixed[order]
            new = np.ones(len(mixed), dtype=bool)
            new[1:] = (mixed[1:] != mixed[:-1]) | (owner[1:] != owner[:-1])
            starts = np.flatnonzero(new)
            hashes.append(mixed[starts])
            owners.append(owner[starts] + first)
            counts.append(np.diff(starts, append=len(mixed)))
        mixed, owner = np.concatenate(hashes), np.concatenate(owners)
        count = np.concatenate(counts).astype(np.float64)
        norms = np.sqrt(np.bincount(owner, weights=count**2))
        # By n-gram, then text: each n-gram's run is its column (one sort gives the columns
        # and their distinct n-grams).
        order = np.lexsort((owner, mixed))
        ordered = mixed[order]
        new = np.ones(len(ordered), dtype=bool)
        new[1:] = ordered[1:] != ordered[:-1]
        starts = np.flatnonzero(new)
        matrix = sparse.csc_matrix(
            ((count / norms[owner])[order], owner[order], np.append(starts, len(ordered))),
            shape=(len(texts), len(starts)),
        )
        return cls(ordered[starts], matrix)

    def cosines(self, text: str) -> np.ndarray:
        """The cosine of each text with `text` (rounded, so that texts equally alike tie)."""
        found, counts = np.unique(call_ngrams(text), return_counts=True)
        weights = counts / np.sqrt(np.sum(counts.astype(np.float64) ** 2))
        at = np.minimum(np.searchsorted(self.features, found), len(self.features) - 1)
        known = self.features[at] == found
        scores = np.asarray(self.matrix[:, at[known]] @ weights[known]).ravel()
        return np.round(scores, 9)

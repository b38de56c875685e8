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
from wmh.retrieval.retriever import Retriever
from wmh.retrieval.text import action_text, route_of


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
    name = "most_frequent"

    def __init__(self, retriever: Retriever) -> None:
        table = retriever.table
        hidden: frozenset[str] = getattr(retriever, "hidden", frozenset())
        counts: dict[str, Counter[tuple[str, bool]]] = {}
        for row in range(len(table)):
            if table.trace_ids[row] in hidden:
                continue
            counts.setdefault(table.routes[row], Counter())[table.observation_of(row)] += 1
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
        from sklearn.feature_extraction.text import HashingVectorizer

        self.retriever = retriever
        table = retriever.table
        self._vectorizer = HashingVectorizer(
            analyzer="char", ngram_range=(3, 4), n_features=2**20, alternate_sign=False,
            lowercase=False,
        )  # fmt: skip
        # Per route, each distinct call text once (in the order of its first row) with the rows
        # that made it: a corpus repeats many calls, and a query costs the postings it touches.
        groups: dict[str, dict[str, list[int]]] = {}
        for row, route in enumerate(table.routes):
            text = action_text(table.step(row).action)
            groups.setdefault(route, {}).setdefault(text, []).append(row)
        self._groups = {
            route: [np.asarray(rows) for rows in texts.values()] for route, texts in groups.items()
        }
        # Column-major: a query touches only the columns of its own n-grams (a sparse-sparse
        # product converted the query and scanned every row, 15 ms a call at 20k steps). Only
        # the n-grams a route has get a column (2^20 columns cost 8 MB of pointers a route).
        self._columns: dict[str, sparse.csc_matrix] = {}
        self._features: dict[str, np.ndarray] = {}
        for route, texts in groups.items():
            matrix = self._vectorizer.transform(list(texts)).tocsr()
            used, local = np.unique(matrix.indices, return_inverse=True)
            shape = (matrix.shape[0], len(used))
            compact = sparse.csr_matrix((matrix.data, local, matrix.indptr), shape=shape)
            self._columns[route] = compact.tocsc()
            self._features[route] = used

    def predict(self, context: PredictionContext) -> Observation:
        route = route_of(context.action)
        groups = self._groups.get(route)
        if groups is None:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        query = self._vectorizer.transform([action_text(context.action)])
        used = self._features[route]
        at = np.searchsorted(used, query.indices)
        known = at < len(used)
        known[known] = used[at[known]] == query.indices[known]
        columns = self._columns[route][:, at[known]]
        scores = np.asarray(columns @ query.data[known]).ravel()
        row = self._first_kept(groups, scores, context.exclude_trace)
        if row is None:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        step = self.retriever.table.step(row)
        return step.observation.model_copy(update={"metadata": {"source": self.name}})

    def _first_kept(
        self, groups: list[np.ndarray], scores: np.ndarray, excluded: str | None
    ) -> int | None:
        """The first row, by best score and then row order, of a trace neither excluded nor
        hidden (what a stable sort of every row by score would give)."""
        trace_ids = self.retriever.table.trace_ids
        hidden: frozenset[str] = getattr(self.retriever, "hidden", frozenset())

        def kept(row: int) -> bool:
            return trace_ids[row] != excluded and trace_ids[row] not in hidden

        best = int(np.argmax(scores))  # the first of the best texts holds the first best row
        if kept(int(groups[best][0])):
            return int(groups[best][0])
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

"""Reference predictors that every fidelity figure is printed beside.

`nn_copy` copies the nearest recorded step of the same tool as it is (no adaptation, no session);
`action_copy` the same by character n-grams of the call alone, computed exactly (no index);
`most_frequent` answers each tool with its most frequent recorded observation.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

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
        by_route: dict[str, list[int]] = {}
        for row, route in enumerate(table.routes):
            by_route.setdefault(route, []).append(row)
        self._rows = {route: np.asarray(rows) for route, rows in by_route.items()}
        # Column-major: a query touches only the columns of its own n-grams (a sparse-sparse
        # product converted the query and scanned every row, 15 ms a call at 20k steps).
        self._columns = {
            route: self._vectorizer.transform(
                [action_text(table.step(r).action) for r in rows]
            ).tocsc()
            for route, rows in self._rows.items()
        }

    def predict(self, context: PredictionContext) -> Observation:
        route = route_of(context.action)
        rows = self._rows.get(route)
        if rows is None:
            return Observation(content="", is_error=True, metadata={"source": "none"})
        query = self._vectorizer.transform([action_text(context.action)])
        scores = np.asarray(self._columns[route][:, query.indices] @ query.data).ravel()
        table = self.retriever.table
        hidden: frozenset[str] = getattr(self.retriever, "hidden", frozenset())
        best = int(np.argmax(scores))  # the first of the best, as the stable sort would give
        first = table.trace_ids[rows[best]]
        if first != context.exclude_trace and first not in hidden:
            step = table.step(int(rows[best]))
            return step.observation.model_copy(update={"metadata": {"source": self.name}})
        for position in np.argsort(-scores, kind="stable"):
            trace = table.trace_ids[rows[position]]
            if trace != context.exclude_trace and trace not in hidden:
                step = table.step(int(rows[position]))
                return step.observation.model_copy(update={"metadata": {"source": self.name}})
        return Observation(content="", is_error=True, metadata={"source": "none"})

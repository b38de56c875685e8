"""Reference predictors that every fidelity figure is printed beside.

`nn_copy` copies the nearest recorded step of the same tool as it is (no adaptation, no session);
`most_frequent` answers each tool with its most frequent recorded observation.
"""

from __future__ import annotations

from collections import Counter

from wmh.core.types import Observation
from wmh.engine.predictor import PredictionContext, context_query
from wmh.retrieval.retriever import Retriever
from wmh.retrieval.text import route_of


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
        counts: dict[str, Counter[tuple[str, bool]]] = {}
        for row in range(len(table)):
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

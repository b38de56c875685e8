"""Candidates re-ranked by likeness plus weighted context: best combined score (to 6 decimals)
first, then the more alike task (to 6 decimals), then the earlier row; a limit keeps the first
that many of that order."""

from __future__ import annotations

import random

from wmh.retrieval.retriever import Neighbour, Weights, reranked
from wmh.retrieval.table import StepTable


def _candidates(rng: random.Random, count: int) -> list[Neighbour]:
    """Scores on a coarse grid plus noise below the rounding: many ties, some only after it."""
    table = StepTable([], [], [], {})
    rows = rng.sample(range(1000), count)
    grid = [0.5, 0.25, 0.125]

    def value() -> float:
        return rng.choice(grid) + rng.choice([0.0, 1e-8, -1e-8, 3e-7, 2e-6])

    return [Neighbour(r, 0.0, table, value(), value(), value()) for r in rows]


def _by_definition(candidates: list[Neighbour], weights: Weights) -> list[tuple[int, float]]:
    scored = [
        (c.action_score + weights.task * c.task_score + weights.history * c.history_score, c)
        for c in candidates
    ]
    scored.sort(key=lambda p: (-round(p[0], 6), -round(p[1].task_score, 6), p[1].row))
    return [(c.row, score) for score, c in scored]


def test_every_limit_keeps_the_first_rows_of_the_whole_order() -> None:
    rng = random.Random(7)
    weightings = [Weights(), Weights(task=0.1), Weights(history=0.3), Weights(0.1, 0.1)]
    differs = 0
    for _ in range(200):
        candidates = _candidates(rng, rng.randint(1, 40))
        for limit in (None, 0, 1, 3, 10):
            orders = reranked(candidates, weightings, limit)
            for weights, order in zip(weightings, orders, strict=True):
                got = [(n.row, n.score) for n in order]
                if weights:
                    assert got == _by_definition(candidates, weights)[:limit]
                else:  # no context weight: the search's own order
                    assert got == [(c.row, c.score) for c in candidates[:limit]]
                differs += got != [(c.row, c.score) for c in candidates[:limit]]
    assert differs  # the weightings do reorder

"""A build embeds every row's history at once; a query embeds its own one action at a time.
The two must agree bit for bit, or the context a query compares is not the one the build
stored."""

from __future__ import annotations

import random

import numpy as np
import pytest

from wmh.core.types import Action
from wmh.retrieval import context, hashing
from wmh.retrieval.context import ContextColumns, history_vector, window_vectors
from wmh.retrieval.text import HISTORY_WINDOW, action_text

COMMANDS = ["ls", "cat  a.txt", "grep -rn   'x' src", "python -c 'print(1)'", "café ✓", "a"]


def _histories() -> list[list[Action]]:
    rng = random.Random(7)
    pool = [Action(name="bash", arguments={"command": c}) for c in COMMANDS]
    pool += [Action(name="get_user", arguments={"id": i}) for i in range(30)]
    return [[rng.choice(pool) for _ in range(rng.randrange(0, 6))] for _ in range(400)]


def test_histories_built_at_once_equal_a_querys_own(monkeypatch: pytest.MonkeyPatch) -> None:
    histories = _histories()
    # Several batches of rows and of actions.
    monkeypatch.setattr(context, "HISTORY_ROWS", 64)
    monkeypatch.setattr(hashing, "HASHED_AT_ONCE", 50)
    one_by_one = np.stack([history_vector(h) for h in histories])
    texts: dict[str, int] = {}
    windows = np.full((len(histories), HISTORY_WINDOW), -1, dtype=np.int64)
    for row, recent in enumerate(histories):
        for place, action in enumerate(recent[-HISTORY_WINDOW:]):
            windows[row, place] = texts.setdefault(action_text(action), len(texts))
    texts["never in a window"] = len(texts)
    assert np.array_equal(window_vectors(windows, list(texts)), one_by_one)
    built = ContextColumns.of_numbers([0] * len(histories), ["fix it"], windows, list(texts))
    assert built.history.dtype == np.float16  # as saved
    assert np.array_equal(built.history, one_by_one.astype(np.float16))
    assert not np.any(built.history[[not h for h in histories].index(True)])  # no history: zero
    assert np.count_nonzero(np.abs(one_by_one).sum(axis=1)) > 300

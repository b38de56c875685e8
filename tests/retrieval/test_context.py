"""A build embeds every row's history at once; a query embeds its own one action at a time.
The two must agree bit for bit (as saved, in half precision), or the context a query compares
is not the one the build stored."""

from __future__ import annotations

import random

import numpy as np
import pytest

from wmh.core.types import Action
from wmh.retrieval.context import ContextColumns, history_vector

COMMANDS = ["ls", "cat  a.txt", "grep -rn   'x' src", "python -c 'print(1)'", "café ✓", "a"]


def _histories() -> list[list[Action]]:
    rng = random.Random(7)
    pool = [Action(name="bash", arguments={"command": c}) for c in COMMANDS]
    pool += [Action(name="get_user", arguments={"id": i}) for i in range(30)]
    return [[rng.choice(pool) for _ in range(rng.randrange(0, 6))] for _ in range(400)]


def test_histories_built_at_once_equal_a_querys_own(monkeypatch: pytest.MonkeyPatch) -> None:
    histories = _histories()
    monkeypatch.setattr(ContextColumns, "CHUNK", 64)  # several chunks of rows and of actions
    built = ContextColumns.build(["fix it"] * len(histories), histories)
    one_by_one = np.stack([history_vector(h) for h in histories]).astype(np.float16)
    assert built.history.dtype == np.float16
    assert np.array_equal(built.history, one_by_one)
    assert not np.any(built.history[[not h for h in histories].index(True)])  # no history: zero
    assert np.count_nonzero(np.abs(one_by_one).sum(axis=1)) > 300

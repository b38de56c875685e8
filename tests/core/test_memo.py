"""Caches of what serving works out of a call's text hold a bounded number of characters: bounded
by entries alone they kept every long call an agent sent (two thousand distinct 100 KB calls left
3.6 GB behind in a served model)."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from wmh.core.memo import SMALL, TextCache
from wmh.core.types import Action, Session
from wmh.engine.predictor import PredictionContext
from wmh.store.loader import load_world_model

AIRLINE_MODEL = Path(__file__).resolve().parents[2] / "examples" / "airline" / "models" / "airline"


def _counting() -> tuple[list[str], TextCache[str]]:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    return calls, TextCache(upper, entries=4, chars=16 * 2000)


def test_short_and_long_texts_are_remembered_long_ones_within_the_characters_allowed() -> None:
    calls, cache = _counting()  # 32,000 characters of long texts allowed
    short = "a" * SMALL
    longs = [chr(ord("A") + i) * 1900 for i in range(17)]  # 17 x 1,900 = 32,300
    assert [cache(t) for t in (short, short, longs[0], longs[0])] == [
        short.upper(), short.upper(), longs[0].upper(), longs[0].upper()
    ]  # fmt: skip
    assert calls == [short, longs[0]]  # each worked out once
    assert cache.held_chars == 1900
    for text in longs[1:]:
        cache(text)  # the 17th passes the allowance: the least recently used (the first) goes
    assert cache.held_chars == 16 * 1900
    calls.clear()
    cache(longs[16])
    cache(longs[1])
    cache(longs[0])
    assert calls == [longs[0]]


def test_a_text_longer_than_a_sixteenth_of_the_allowance_is_not_kept() -> None:
    calls, cache = _counting()
    huge = "d" * 3000  # the allowance is 32,000 characters
    kept = "e" * 1000
    cache(kept)
    cache(huge)
    cache(huge)
    cache(kept)
    assert calls == [kept, huge, huge]
    assert cache.held_chars == 1000  # the kept text stays


def test_serving_many_long_distinct_calls_keeps_memory_bounded() -> None:
    """Each call in a session of its own, ended after the step (as an RL loop's episodes)."""
    wm, _ = load_world_model(AIRLINE_MODEL)
    predictor = wm.predictor

    def step(i: int) -> None:
        origin = f"{i:06d} " + " ".join(f"w{i}x{j}" for j in range(5000))  # ~50 KB
        action = Action(
            name="search_direct_flight",
            arguments={"origin": origin, "destination": "JFK", "date": "2024-05-20"},
        )
        predictor.predict(PredictionContext(Session(id=f"s{i}", task="book a flight"), action))
        predictor.forget(f"s{i}")

    step(-1)  # (the first step loads what every step uses)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(150):
            step(i)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 150 calls of 50 KB, kept by every cache: 368 MB (n-gram hashes 16 bytes a character,
    # tokens some 30); bounded, 66 MB (the n-gram hashes' and the tokens' allowances).
    assert held < 100 * 2**20, held / 2**20

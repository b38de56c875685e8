"""A build keeps the answer signatures of the tools whose policy takes a consensus with the model:
a loaded model's consensus compares them without reading its answers, and answers as before."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from wmh.core.types import Session, Step
from wmh.engine import agreement
from wmh.engine.agreement import SIGNATURE_DIM, StoredSignatures, signature
from wmh.engine.policy import ReplayPolicies, ReplayPolicy
from wmh.engine.predictor import PredictionContext
from wmh.engine.replay import ReplayPredictor
from wmh.errors import StoreError
from wmh.pipeline.build import build_world_model
from wmh.store.layout import SIGNATURES
from wmh.store.loader import load_world_model

AIRLINE = Path(__file__).resolve().parents[2] / "examples" / "airline" / "traces.otel.jsonl"
ANSWERS = [
    '{"id": "r1", "status": "active", "seats": [1, 2]}',
    "total 4\ndrwxr-xr-x  2 root root 4096 .\n-rw-r--r--  1 root root  120 notes.txt",
    "",
    "ok " * 3000,  # more features than a signature counts
    "Café: ünïcode, ½ and \x1c separators",
    '{"id": "r1", "status": "active", "seats": [1, 2]}',  # the first answer again
]


def _stored(rows: list[int]) -> StoredSignatures:
    return StoredSignatures.of(rows, ANSWERS.__getitem__)


def test_stored_signatures_read_back_as_the_ones_made_from_the_answers(tmp_path: Path) -> None:
    file = tmp_path / SIGNATURES
    _stored([0, 1, 2, 3, 5]).save(file)
    lengths = np.array([len(answer) for answer in ANSWERS])
    loaded = StoredSignatures.load(file, table_rows=len(ANSWERS), observation_chars=lengths)
    assert loaded is not None and len(loaded) == 5
    assert len(loaded.bounds) - 1 == 4  # rows 0 and 5 share their answer's counts
    for row in (0, 1, 2, 3, 5):
        found = loaded.get(row)
        assert found is not None and found.dtype == np.float32
        assert np.array_equal(found, signature(ANSWERS[row]))
    assert loaded.get(4) is None  # not stored: made when asked for
    assert loaded.get(99) is None
    assert float(loaded.get(3).sum()) == agreement.MAX_FEATURES  # type: ignore[union-attr]


@pytest.mark.parametrize("dense", [True, False], ids=["one-matrix", "from-pairs"])
def test_a_pool_of_stored_signatures_is_gathered_at_once_as_each_row_alone(
    dense: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held as one matrix (a model of few answers) or gathered from the stored pairs (more
    than `DENSE_ANSWERS`), a pool is each row's signature, zeros for a row not stored."""
    if not dense:
        monkeypatch.setattr(agreement, "DENSE_ANSWERS", 2)  # fewer than the 4 stored answers
    stored = _stored([0, 1, 3, 4])
    assert stored.dense is dense
    rows = [4, 2, 0, 99, 3, 0]  # unstored rows (2, 99) and a row twice
    vectors, found = stored.many(rows)
    assert found.tolist() == [True, False, True, False, True, True]
    for at, row in enumerate(rows):
        expected = signature(ANSWERS[row]) if found[at] else np.zeros(SIGNATURE_DIM)
        assert np.array_equal(vectors[at], expected), row
    empty = StoredSignatures.of([], ANSWERS.__getitem__)
    assert empty.many([0, 1])[1].tolist() == [False, False]


def test_the_signature_cache_answers_every_row_and_keeps_at_most_its_bound() -> None:
    """Stored rows come from the store, the others from their answers; a pool that overflows
    the cache is still answered in full, for rows it held before the overflow too."""
    asked: list[int] = []

    def content_of(row: int) -> str:
        asked.append(row)
        return ANSWERS[row]

    cache = agreement.SignatureCache(content_of, _stored([0, 1, 3]), kept=3)
    first = cache.pool([0, 2])
    assert asked == [2]  # only the unstored row's answer is read
    assert len(cache) == 2
    pool = cache.pool([2, 4, 1, 2])  # 2 is kept; 4 and 1 overflow the bound of 3
    for at, row in enumerate([2, 4, 1, 2]):
        assert np.array_equal(pool[at], signature(ANSWERS[row])), row
    assert np.array_equal(first[1], signature(ANSWERS[2]))
    assert len(cache) <= 3
    assert np.array_equal(cache.pool([5])[0], signature(ANSWERS[5]))
    whole = cache.pool(list(range(len(ANSWERS))))  # more than it keeps: answered, not kept
    assert all(np.array_equal(whole[row], signature(ANSWERS[row])) for row in range(6))
    assert len(cache) <= 3


def test_a_pool_is_answered_when_another_step_empties_the_cache_meanwhile() -> None:
    """A server steps sessions in threads: while one signs an answer, another may overflow the
    cache and empty it; a row the first found kept must still be answered."""

    def content_of(row: int) -> str:
        cache._vectors.clear()  # another session's step, in another thread
        return ANSWERS[row]

    cache = agreement.SignatureCache(content_of, _stored([0, 1]))
    cache.pool([0])
    pool = cache.pool([0, 2])  # 0 is kept; 2 is signed, and the cache emptied meanwhile
    assert np.array_equal(pool[0], signature(ANSWERS[0]))
    assert np.array_equal(pool[1], signature(ANSWERS[2]))


def _write(file: Path, **arrays: np.ndarray) -> None:
    good = _stored([0, 1, 4])
    values = {name: getattr(good, name) for name in StoredSignatures.ARRAYS[1:]}
    values["definition"] = agreement.DEFINITION
    values.update(arrays)
    with file.open("wb") as out:
        np.savez(out, **values)  # type: ignore[arg-type]


def _damaged(how: str) -> dict[str, np.ndarray]:
    good = _stored([0, 1, 4])
    bounds, buckets, counts = good.bounds.copy(), good.buckets.copy(), good.counts.copy()
    if how == "bounds swapped":  # the first answer's pairs end after the second's
        bounds[1], bounds[2] = bounds[2], bounds[1]
        return {"bounds": bounds}
    if how == "bounds wrap":  # as unsigned, a decrease would wrap to a huge step up
        return {"bounds": np.array([0, 300, 200, bounds[-1]], dtype=np.uint64)}
    if how == "rows wrap":
        return {"rows": np.array([4, 1, 0], dtype=np.uint64)}
    if how == "bucket beyond":
        buckets[-1] = SIGNATURE_DIM
        return {"buckets": buckets}
    if how == "bucket negative":
        return {"buckets": buckets.astype(np.int32) - 600}
    if how == "bucket twice":  # an answer's second bucket repeats its first
        buckets[1] = buckets[0]
        return {"buckets": buckets}
    if how == "count huge":
        counts = counts.astype(np.uint64)
        counts[0] = 2**40
        return {"counts": counts}
    if how == "other steps":  # the table's answers are not the ones signed
        return {"lengths": good.lengths + 1}
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"rows": np.array([0, 1, 5])}, "not ascending row numbers of a table of 5"),
        ({"rows": np.array([1, 0, 4])}, "not ascending row numbers"),
        ("rows wrap", "not ascending row numbers"),
        ({"answer_of": np.array([0, 1, 3])}, "names an answer it does not hold"),
        ({"answer_of": np.array([0, 1])}, "lengths do not match"),
        ("bounds swapped", "bounds do not cut its pairs in order"),
        ("bounds wrap", "bounds do not cut its pairs in order"),
        ("bucket beyond", "bucket outside 0-511"),
        ("bucket negative", "bucket outside 0-511"),
        ("bucket twice", "holds a bucket twice"),
        ("count huge", "count outside 1-2000"),
        ({"counts": np.array([1.5])}, "counts are not a list of whole numbers"),
        ("other steps", "made for other steps"),
    ],
)
def test_stored_signatures_that_do_not_fit_their_table_are_a_store_error(
    tmp_path: Path, arrays: dict[str, np.ndarray] | str, message: str
) -> None:
    file = tmp_path / SIGNATURES
    _write(file, **(_damaged(arrays) if isinstance(arrays, str) else arrays))
    lengths = np.array([len(answer) for answer in ANSWERS[:5]])
    with pytest.raises(StoreError, match=message) as raised:
        StoredSignatures.load(file, table_rows=5, observation_chars=lengths)
    assert str(file) in str(raised.value) and "damaged" in str(raised.value)


@pytest.mark.parametrize("damage", ["empty", "truncated", "a flipped byte", "a lone array"])
def test_a_file_that_is_not_stored_signatures_is_a_store_error(tmp_path: Path, damage: str) -> None:
    file = tmp_path / SIGNATURES
    _write(file)
    data = file.read_bytes()
    if damage == "empty":
        file.write_bytes(b"")
    elif damage == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif damage == "a flipped byte":  # inside the first array's data: its CRC no longer holds
        file.write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    else:
        with file.open("wb") as out:
            np.save(out, np.arange(3))
    with pytest.raises(StoreError, match="cannot read the stored signatures"):
        StoredSignatures.load(file, table_rows=5)


def test_signatures_of_another_definition_are_not_used(tmp_path: Path) -> None:
    file = tmp_path / SIGNATURES
    _write(file, definition=agreement.DEFINITION + np.array([0, 0, 1]))
    assert StoredSignatures.load(file, table_rows=5) is None


@pytest.fixture(scope="module")
def airline_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    return build_world_model(make_settings(root, "airline", [AIRLINE])).path


def test_a_build_keeps_the_signatures_of_the_tools_that_take_a_consensus(
    airline_model: Path,
) -> None:
    wm, _ = load_world_model(airline_model)
    replay = wm.predictor
    assert isinstance(replay, ReplayPredictor) and replay.signatures is not None
    table = wm.retriever.table
    consensus = {r for r in set(table.routes) if replay.policies.of(r).consensus > 1}
    assert consensus and consensus != set(table.routes)  # some tools take one, some not
    expected = [row for row, route in enumerate(table.routes) if route in consensus]
    assert replay.signatures.rows.tolist() == expected
    for row in expected:
        stored = replay.signatures.get(row)
        assert stored is not None
        assert np.array_equal(stored, signature(table.observation_of(row)[0]))


def test_a_loaded_model_takes_its_consensus_from_the_stored_signatures(
    airline_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the stored signatures, no answer is signed while stepping, and every answer is the
    one a predictor that signs them gives."""
    wm, _ = load_world_model(airline_model)
    replay = wm.predictor
    assert isinstance(replay, ReplayPredictor) and replay.signatures is not None
    table = wm.retriever.table
    stored = {table.routes[row] for row in replay.signatures.rows.tolist()}
    steps = [table.step(r) for r in range(0, len(table), 3) if table.routes[r] in stored]
    # Every step through the neighbours and a consensus of ten (no exact replay).
    every = ReplayPolicies(default=ReplayPolicy(corpus_replay=False, consensus=10))
    signing = ReplayPredictor(wm.retriever, replay.error_style, replay.top_k, policies=every)
    expected = [signing.predict(_context(step)) for step in steps]
    sources = [answer.metadata["source"] for answer in expected]
    assert sources.count("consensus_neighbour") >= 5

    def no_signing(content: str) -> np.ndarray:
        raise AssertionError("an answer was signed while stepping")

    monkeypatch.setattr(agreement, "signature", no_signing)
    loaded = replay.with_policies(every)
    assert [loaded.predict(_context(step)) for step in steps] == expected
    # A pool asked again (the same call in another episode) is not compared again: its
    # answers' agreement is kept, and the same answer comes.
    from wmh.engine import replay as replay_module

    compared: list[int] = []
    pairwise = replay_module.agreement

    def counted(signatures: np.ndarray) -> np.ndarray:
        compared.append(len(signatures))
        return pairwise(signatures)

    monkeypatch.setattr(replay_module, "agreement", counted)
    again = replay.with_policies(every)
    assert [again.predict(_context(step)) for step in steps] == expected and compared == []


def test_a_model_with_stored_signatures_is_freed_when_its_last_reference_goes(
    airline_model: Path,
) -> None:
    """Its table and stored signatures go by reference counting alone (no cycle through the
    signature cache)."""
    wm, _ = load_world_model(airline_model)
    replay = wm.predictor
    assert isinstance(replay, ReplayPredictor) and replay.signatures is not None
    table, stored = weakref.ref(wm.retriever.table), weakref.ref(replay.signatures)
    every = ReplayPolicies(default=ReplayPolicy(corpus_replay=False, consensus=10))
    step = wm.retriever.table.step(5)
    replay.with_policies(every).predict(_context(step))  # fills the signature cache
    collecting = gc.isenabled()
    gc.disable()
    try:
        del wm, replay, step
        assert table() is None
        assert stored() is None
    finally:
        if collecting:
            gc.enable()


def _context(step: Step) -> PredictionContext:
    return PredictionContext(Session(id="s", task=step.task), step.action)


def test_a_nearer_answer_weighs_more_in_the_consensus() -> None:
    """Two far answers agree with each other, a much nearer one with neither: weighed by
    nearness, the near one wins; at equal nearness, the agreeing pair does."""
    from wmh.engine.agreement import consensus_of

    agree = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]])
    assert consensus_of(agree, np.array([0.5, 0.5, 1.0], dtype=np.float32)) == 2
    assert consensus_of(agree, np.array([1.0, 1.0, 1.0], dtype=np.float32)) == 0

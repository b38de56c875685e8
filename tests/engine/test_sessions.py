from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy
import pytest

from tests.conftest import FakeClock
from wmh.core.types import MAX_JSON_DEPTH, Action
from wmh.engine.sessions import InMemorySessionStore
from wmh.errors import InputError, SessionNotFoundError
from wmh.store.loader import load_world_model


def test_sessions_past_the_cap_evict_the_least_recently_used() -> None:
    store = InMemorySessionStore(max_sessions=2)
    a, b = store.create("a"), store.create("b")
    store.get(a.id)
    store.create("c")
    assert store.get(a.id).task == "a"
    with pytest.raises(SessionNotFoundError):
        store.get(b.id)


def test_idle_sessions_expire_after_the_ttl_and_each_use_restarts_it() -> None:
    clock = FakeClock()
    store = InMemorySessionStore(ttl_s=10, clock=clock)
    used, idle = store.create("used"), store.create("idle")
    clock.now += 6
    assert store.get(used.id).task == "used"  # 6 s idle of 10: still there, and touched
    clock.now += 6
    store.save(store.get(used.id))  # 6 s since its last use; 12 s for the idle one
    with pytest.raises(SessionNotFoundError, match="expired"):
        store.get(idle.id)
    assert len(store) == 1
    clock.now += 10  # exactly the TTL: not yet past it
    assert store.get(used.id).task == "used"
    clock.now += 10.001
    with pytest.raises(SessionNotFoundError, match="expired"):
        store.get(used.id)
    assert len(store) == 0


def test_concurrent_steps_lose_nothing_and_never_cross_sessions(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    sessions = [wm.new_session(task=f"user {i}").id for i in range(8)]

    def run(session_id: str, user: int) -> None:
        for _ in range(10):
            wm.step(session_id, Action(name="get_user", arguments={"user_id": user}))

    threads = [
        threading.Thread(target=run, args=(sid, 100 + i))
        for i, sid in enumerate(sessions)
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, sid in enumerate(sessions):
        history = wm.session(sid).history
        assert len(history) == 30
        assert {t.action.arguments["user_id"] for t in history} == {100 + i}


def test_the_store_a_world_model_is_given_is_the_one_it_uses(built_model: Path) -> None:
    """An empty store is falsy (len 0): it must still be used, with its own limits."""
    store = InMemorySessionStore(max_sessions=1, ttl_s=60)
    wm, _ = load_world_model(built_model, store)
    first = wm.new_session("a")
    wm.new_session("b")
    assert wm.sessions is store
    with pytest.raises(SessionNotFoundError):
        wm.session(first.id)


def test_a_value_no_session_can_hold_is_refused_and_the_session_is_unchanged(
    built_model: Path,
) -> None:
    wm, _ = load_world_model(built_model)
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    with pytest.raises(InputError, match="the seed state: nested more than 100 levels deep"):
        wm.new_session("t", seed_state={"users": deep})
    with pytest.raises(InputError, match="the seed state: holds inf, a number that is not finite"):
        wm.new_session("t", seed_state={"structured": {"limit": float("inf")}})
    # A lone surrogate, in a key or deep in a value: written as JSON, it became U+FFFD.
    with pytest.raises(InputError, match="has a key that is not valid Unicode"):
        wm.new_session("t", seed_state={"users": {"\ud800": 1}})
    with pytest.raises(InputError, match="holds text that is not valid Unicode") as refused:
        wm.new_session("t", seed_state={"users": [{"name": "x" * 5000 + "\udc00"}]})
    assert "x" * 40 in str(refused.value) and "x" * 41 not in str(refused.value)  # not all of it
    session = wm.new_session("t", seed_state={"users": deep[0]})  # type: ignore[index]
    call = Action(name="get_user", arguments={"user_id": 1})
    wm.step(session.id, call)
    tuples: object = 1
    for _ in range(MAX_JSON_DEPTH):
        tuples = (tuples,)
    for arguments, why in (
        ({"user_id": deep}, "nested more"),
        ({"user_id": tuples}, "nested more"),
        ({"x": [float("nan")]}, "holds nan"),
        ({"x": (numpy.float64("-inf"),)}, "holds -inf"),
        # bytes was a TypeError before
        ({"user_id": b"u1"}, "holds a value of type bytes, which is not a JSON value"),
        ({"user_id": {1, 2}}, "holds a value of type set, which is not a JSON value"),
    ):
        with pytest.raises(InputError, match=f"the arguments of get_user: {why}"):
            wm.step(session.id, Action(name="get_user", arguments=arguments))
    assert [turn.action for turn in wm.session(session.id).history] == [call]


def test_a_session_evicted_while_it_was_held_is_not_revived_by_its_save() -> None:
    store = InMemorySessionStore(max_sessions=1)
    held = store.get(store.create("a").id)
    store.create("b")  # past the cap: `a` goes while its holder still works on it
    with pytest.raises(SessionNotFoundError, match="expired"):
        store.save(held)
    with pytest.raises(SessionNotFoundError):
        store.get(held.id)
    assert len(store) == 1


def test_deleting_a_session_that_is_not_there_says_so() -> None:
    store = InMemorySessionStore()
    session = store.create("a")
    store.delete(session.id)
    with pytest.raises(SessionNotFoundError, match=f"no session '{session.id}'"):
        store.delete(session.id)
    with pytest.raises(SessionNotFoundError, match="no session 'nope'"):
        store.delete("nope")
    assert len(store) == 0


def test_a_coroutine_waiting_for_a_session_that_is_not_there_is_told_so() -> None:
    """`alocked` (a step awaited on the event loop) on an unknown or deleted session is the
    session's 404, as `locked` is, not an error of the lock."""
    store = InMemorySessionStore()
    gone = store.create("a")
    store.delete(gone.id)

    async def hold(session_id: str) -> str:
        async with store.alocked(session_id) as session:
            return session.task

    kept = store.create("b")
    assert asyncio.run(hold(kept.id)) == "b"
    for missing in ("nope", gone.id):
        with pytest.raises(SessionNotFoundError, match=f"no session '{missing}'"):
            asyncio.run(hold(missing))


def test_a_sessions_lock_holds_off_a_second_holder_of_it_alone() -> None:
    """While one caller holds a session's lock, another waits for that session (not for any
    other) and enters as soon as the first lets go."""
    store = InMemorySessionStore()
    held, other = store.create("held"), store.create("other")
    entered = threading.Event()

    def second() -> None:
        with store.locked(held.id):
            entered.set()

    with store.locked(held.id):
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not entered.wait(0.3)  # still outside while the first holds the lock
        with store.locked(other.id) as session:  # another session is not held up
            assert session.task == "other"
    assert entered.wait(5)
    waiting.join(5)
    assert not waiting.is_alive()


AIRLINE_MODEL = Path(__file__).resolve().parents[2] / "examples" / "airline" / "models" / "airline"


def test_an_ended_session_leaves_nothing_in_the_replay_model() -> None:
    """The replay model kept each session's answers and records until 4,096 newer sessions had
    pushed them out: 64 agents stepping 100,000 steps (2,000 sessions of 50) left 304,000
    objects for the collector to sweep (12.7% of the time) and 170 MB; ended sessions are
    dropped now (12,000 objects, 4.0%, 91 MB)."""
    wm, _ = load_world_model(AIRLINE_MODEL)
    steps = wm.retriever.table.steps(range(6))
    ended, going = wm.new_session(task="ended"), wm.new_session(task="going on")
    for step in steps:
        wm.step(ended.id, step.action)
        wm.step(going.id, step.action)
    memories = wm.predictor._memories
    assert set(memories) == {ended.id, going.id}
    usage = wm.end_session(ended.id)
    assert usage.steps == 6
    assert set(memories) == {going.id}  # the other session's memory stays
    wm.close_session(going.id)
    assert not memories


def test_a_session_the_store_evicts_or_expires_leaves_nothing_in_the_replay_model() -> None:
    """Ending a session dropped its replay memory, but a session the store let go of itself
    (past `max_sessions`, or idle past the TTL) stayed there until 4,096 newer ones had
    pushed it out."""
    clock = FakeClock()
    store = InMemorySessionStore(max_sessions=2, ttl_s=60, clock=clock)
    wm, _ = load_world_model(AIRLINE_MODEL, store)
    steps = list(wm.retriever.table.steps(range(3)))
    memories = wm.predictor._memories

    def stepped(task: str) -> str:
        session = wm.new_session(task=task)
        for step in steps:
            wm.step(session.id, step.action)
        return session.id

    first, second = stepped("first"), stepped("second")
    assert set(memories) == {first, second}
    third = stepped("third")  # the cap of two evicts the first
    assert set(memories) == {second, third}
    clock.now += 30
    wm.step(third, steps[0].action)  # the third is used again; the second idles on
    clock.now += 31
    wm.step(third, steps[1].action)  # 61 s idle: the second expires
    assert set(memories) == {third}

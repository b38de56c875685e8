"""The Redis session store on its own: the protocol, limits, and a lock that serialises steps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.servers import Redis
from wmh.core.types import Action, Observation, Turn
from wmh.errors import SessionNotFoundError, StoreError
from wmh.serving.redis_store import RedisSessionStore


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = Redis()
    yield server.url
    server.stop()


def test_sessions_round_trip_and_stay_apart_per_model(redis_url: str) -> None:
    a = RedisSessionStore(redis_url, "model-a")
    b = RedisSessionStore(redis_url, "model-b")
    session = a.create("book a flight")
    session.history.append(
        Turn(
            action=Action(name="search", arguments={"q": 1}), observation=Observation(content="ok")
        )
    )
    a.save(session)
    assert a.get(session.id) == session
    with pytest.raises(SessionNotFoundError):
        b.get(session.id)
    a.delete(session.id)
    with pytest.raises(SessionNotFoundError):
        a.delete(session.id)


def test_the_cap_evicts_the_least_recently_used(redis_url: str) -> None:
    store = RedisSessionStore(redis_url, "capped", max_sessions=2, ttl_s=600)
    first, second = store.create("1"), store.create("2")
    store.get(first.id)  # second is now the least recently used
    third = store.create("3")
    with pytest.raises(SessionNotFoundError):
        store.get(second.id)
    assert store.get(first.id).task == "1" and store.get(third.id).task == "3"
    assert len(store) == 2


def test_the_cap_still_evicts_sessions_idle_a_while_within_their_ttl(redis_url: str) -> None:
    """The index's idle cut is the TTL in microseconds: with it in milliseconds, a session
    idle a tenth of a second left the index (its keys kept), and the cap never evicted it."""
    store = RedisSessionStore(redis_url, "idle-capped", max_sessions=2, ttl_s=60)
    first = store.create("1")
    time.sleep(0.3)  # idle past 60 ms, well within 60 s
    store.create("2")
    store.create("3")
    with pytest.raises(SessionNotFoundError):
        store.get(first.id)
    assert len(store) == 2


def test_idle_sessions_expire(redis_url: str) -> None:
    """Redis expires the keys itself (its clock, not ours), so this only waits well past the
    TTL: a slow machine makes the wait longer, never the test wrong."""
    store = RedisSessionStore(redis_url, "expiring", ttl_s=0.2)
    session = store.create("1")
    time.sleep(1.0)
    with pytest.raises(SessionNotFoundError):
        store.get(session.id)
    assert len(store) == 0


def test_reading_a_session_restarts_its_idle_time(redis_url: str) -> None:
    """A session only read (its view, its usage) expired a TTL after it was created or last
    stepped, however often it was read meanwhile."""
    store = RedisSessionStore(redis_url, "read-keeps", ttl_s=60.0)
    session = store.create("1")
    keys = (f"wmh:read-keeps:m:{session.id}", f"wmh:read-keeps:t:{session.id}")
    _say(store, session.id, "a")  # a turn, so that the history key exists
    store.client.pexpire(keys[0], 1000)
    store.client.pexpire(keys[1], 1000)  # as if 59 s had passed idle
    assert store.get(session.id).task == "1"
    assert [store.client.pttl(key) > 50_000 for key in keys] == [True, True]


def test_a_session_evicted_while_it_was_held_is_not_revived_by_its_save(redis_url: str) -> None:
    """A step racing the session's eviction (or its DELETE) wrote it back: the session stayed,
    with the history the step had read."""
    store = RedisSessionStore(redis_url, "no-revival")
    session = store.get(store.create("1").id)
    store.delete(session.id)
    session.history.append(Turn(action=Action(name="a"), observation=Observation(content="x")))
    with pytest.raises(SessionNotFoundError):
        store.save(session)
    with pytest.raises(SessionNotFoundError):
        store.get(session.id)


def test_the_lock_serialises_read_modify_write_across_clients(redis_url: str) -> None:
    stores = [RedisSessionStore(redis_url, "locked") for _ in range(4)]
    session = stores[0].create("count")

    def bump(store: RedisSessionStore) -> None:
        for _ in range(10):
            with store.locked(session.id) as current:
                current.state.structured["n"] = current.state.structured.get("n", 0) + 1
                store.save(current)

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stores[0].get(session.id).state.structured["n"] == 40


def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    store = RedisSessionStore("redis://:s3cret@127.0.0.1:1/0", "x")
    with pytest.raises(
        StoreError, match=r"cannot reach Redis at redis://\*\*\*@127.0.0.1:1/0"
    ) as err:
        store.ping()
    assert "s3cret" not in str(err.value)


def _turn(n: int) -> Turn:
    return Turn(action=Action(name="search", arguments={"n": n}), observation=Observation())


def test_processes_see_each_others_turns_and_a_rewritten_history(redis_url: str) -> None:
    """Each store keeps the histories it has seen and fetches only newer turns: two stores (as
    two workers) alternating on one session both end with every turn, in order."""
    a = RedisSessionStore(redis_url, "shared-history")
    b = RedisSessionStore(redis_url, "shared-history")
    session = a.create("alternate")
    for n in range(6):
        store = a if n % 2 == 0 else b
        with store.locked(session.id) as current:
            current.history.append(_turn(n))
            store.save(current)
    for store in (a, b):
        assert [t.action.arguments["n"] for t in store.get(session.id).history] == list(range(6))
    # A history that is not an extension of the stored one is written anew.
    with a.locked(session.id) as current:
        current.history = [_turn(9)]
        a.save(current)
    assert [t.action.arguments["n"] for t in b.get(session.id).history] == [9]
    # What a caller does to the session it got never reaches the store unsaved.
    got = a.get(session.id)
    got.history.append(_turn(10))
    got.state.structured["x"] = 1
    again = b.get(session.id)
    assert len(again.history) == 1 and "x" not in again.state.structured
    assert len(a.get(session.id).history) == 1


def _said(content: str) -> Turn:
    return Turn(action=Action(name="a"), observation=Observation(content=content))


def _say(store: RedisSessionStore, session_id: str, content: str) -> None:
    """One step of a session through the store's lock: a message answered `content`."""
    with store.locked(session_id) as current:
        current.history.append(_said(content))
        store.save(current)


def test_a_locked_step_is_two_round_trips_to_redis(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lock and read in one script, write and unlock in another: a step costs two round trips
    (it was six: lock, read, write, unlock and a renewal thread's start)."""
    import redis.connection

    store = RedisSessionStore(redis_url, "trips")
    other = RedisSessionStore(redis_url, "trips")
    session = store.create("t")
    for content in ("warm", "up"):  # the scripts are loaded once per server
        _say(store, session.id, content)
    sent: list[int] = []
    real = redis.connection.Connection.send_packed_command

    def counted(self, command, check_health=True):  # noqa: ANN001, ANN202
        sent.append(1)
        return real(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    with store.locked(session.id) as current:
        assert [t.observation.content for t in current.history] == ["warm", "up"]
        current.history.append(_said("third"))
        store.save(current)
    assert len(sent) == 2
    # Another process sees all three, and the lock is free again.
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", real)
    assert [t.observation.content for t in other.get(session.id).history] == [
        "warm", "up", "third",
    ]  # fmt: skip
    assert not store.client.exists(f"wmh:trips:lock:{session.id}")


def test_a_step_whose_lock_was_lost_is_not_written(redis_url: str) -> None:
    store = RedisSessionStore(redis_url, "lost")
    session = store.create("t")
    lock = f"wmh:lost:lock:{session.id}"
    with pytest.raises(StoreError, match="its lock expired during the step"):
        with store.locked(session.id) as current:
            # The lock expired and another worker took it meanwhile.
            store.client.set(lock, "someone-else")
            current.history.append(_said("late"))
            store.save(current)
    assert store.get(session.id).history == []
    assert store.client.get(lock) == b"someone-else"  # their lock is left alone


def test_a_step_that_fails_releases_the_lock_at_once(redis_url: str) -> None:
    store = RedisSessionStore(redis_url, "failed", lock_timeout_s=0.5)
    session = store.create("t")
    with pytest.raises(RuntimeError):
        with store.locked(session.id):
            raise RuntimeError("the predictor failed")
    _say(store, session.id, "next")  # not blocked for the lock's TTL
    assert [t.observation.content for t in store.get(session.id).history] == ["next"]


def test_steps_awaited_on_the_loop_serialise_per_session_and_meet_threaded_ones(
    redis_url: str, built_model: Path
) -> None:
    """Twenty steps of one session awaited at once, and twenty of another, over the asyncio
    client: every turn is kept, each session's turns are its own; a thread-side store (another
    worker) then sees them all and adds one, which the loop side reads back."""
    import asyncio

    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.store.loader import load_world_model

    store = LoopRedisSessionStore(redis_url, "on-loop")
    wm, _ = load_world_model(built_model, store)
    assert wm.steps_on_loop
    first, second = wm.new_session(task="a").id, wm.new_session(task="b").id

    def lookup(user: int) -> Action:
        return Action(name="get_user", arguments={"user_id": user})

    async def steps() -> None:
        await asyncio.gather(
            *(wm.astep_with_state(first, lookup(1000 + i)) for i in range(20)),
            *(wm.astep_with_state(second, lookup(2000 + i)) for i in range(20)),
        )

    asyncio.run(steps())
    other = RedisSessionStore(redis_url, "on-loop")  # another worker's view
    for sid, base in ((first, 1000), (second, 2000)):
        users = sorted(t.action.arguments["user_id"] for t in other.get(sid).history)
        assert users == list(range(base, base + 20))
    with other.locked(first) as session:
        session.history.append(Turn(action=lookup(7), observation=Observation(content="x")))
        other.save(session)

    async def one_more() -> int:
        await wm.astep_with_state(first, lookup(8))
        return len(wm.session(first).history)

    assert asyncio.run(one_more()) == 22
    assert [t.action.arguments["user_id"] for t in store.get(first).history[-2:]] == [7, 8]


def test_a_session_another_holder_keeps_locked_is_busy_after_the_timeout(redis_url: str) -> None:
    """A lock held by someone else past `lock_timeout_s` ends the step with a clear error (on
    the thread and on the loop), leaves their lock alone and writes nothing."""
    import asyncio

    from wmh.serving.redis_loop import LoopRedisSessionStore

    store = LoopRedisSessionStore(redis_url, "busy", lock_timeout_s=0.3)
    session = store.create("t")
    lock = f"wmh:busy:lock:{session.id}"
    store.client.set(lock, "someone-else", px=60_000)
    with pytest.raises(StoreError, match=f"session '{session.id}' is busy"):
        with store.locked(session.id):
            pass

    async def on_loop() -> None:
        async with store.alocked(session.id):
            pass

    with pytest.raises(StoreError, match="is busy"):
        asyncio.run(on_loop())
    assert store.client.get(lock) == b"someone-else"
    assert store.get(session.id).history == []
    # A lock that frees itself within the timeout (its holder died: its TTL ran out) is waited
    # for, and the step goes on.
    store.lock_timeout_s = 10.0
    store.client.set(lock, "someone-else", px=300)
    _say(store, session.id, "after the wait")
    assert [t.observation.content for t in store.get(session.id).history] == ["after the wait"]


def test_a_step_on_the_loop_survives_redis_closing_its_idle_connection(
    redis_url: str, built_model: Path
) -> None:
    """Redis closes idle clients (its `timeout`, a restart, a proxy): the asyncio client's pooled
    connection was then dead on its next use, and that step was a 503 although Redis was up."""
    import asyncio

    import redis

    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.store.loader import load_world_model

    store = LoopRedisSessionStore(redis_url, "idle-closed")
    wm, _ = load_world_model(built_model, store)
    sid = wm.new_session(task="a").id
    admin = redis.Redis.from_url(redis_url)

    async def steps() -> list[int]:
        for user in (1, 2):
            await wm.astep_with_state(sid, Action(name="get_user", arguments={"user_id": user}))
            admin.client_kill_filter(_type="normal", skipme=True)  # as Redis's idle timeout does
        return [t.action.arguments["user_id"] for t in wm.session(sid).history]

    assert asyncio.run(steps()) == [1, 2]
    admin.close()


def _counting_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every command the asyncio client sends from now on, counted."""
    from redis.asyncio.connection import AbstractConnection

    sent: list[int] = []
    real = AbstractConnection.send_packed_command

    async def counted(self, command, check_health=True):  # noqa: ANN001, ANN202
        sent.append(1)
        return await real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def _append(content: str):  # noqa: ANN202
    """A step for `astep_unchanged`: the turns it was given, then one more turn."""
    given: list[list[str]] = []

    def step(session):  # noqa: ANN001, ANN202
        given.append([t.observation.content for t in session.history])
        session.history.append(_said(content))
        return content

    return step, given


def test_a_step_on_a_session_this_process_left_is_one_round_trip(
    redis_url: str, built_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay step on a session this worker stepped last is computed on the session as the
    worker left it and written by one script, if Redis still holds that: one round trip (it was
    two: lock and read, then write and unlock)."""
    import asyncio

    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.store.loader import load_world_model

    store = LoopRedisSessionStore(redis_url, "one-trip")
    wm, _ = load_world_model(built_model, store)
    sid = wm.new_session(task="a").id

    async def steps() -> list[int]:
        for user in range(2):  # the client connects, the scripts are loaded
            await wm.astep_with_state(sid, Action(name="get_user", arguments={"user_id": user}))
        sent = _counting_sends(monkeypatch)
        for user in range(2, 7):
            await wm.astep_with_state(sid, Action(name="get_user", arguments={"user_id": user}))
        return sent

    assert len(asyncio.run(steps())) == 5
    other = RedisSessionStore(redis_url, "one-trip")  # another worker's view
    history = other.get(sid).history
    assert [t.action.arguments["user_id"] for t in history] == list(range(7))
    assert not store.client.exists(f"wmh:one-trip:lock:{sid}")


def test_a_session_changed_elsewhere_is_not_written_over(redis_url: str) -> None:
    """Another worker stepped the session, or holds its lock: the step computed on what this
    worker last saw writes nothing (the caller steps again under the lock)."""
    import asyncio

    from wmh.serving.redis_loop import LoopRedisSessionStore

    store = LoopRedisSessionStore(redis_url, "changed")
    other = RedisSessionStore(redis_url, "changed")
    sid = store.create("t").id
    step, given = _append("mine")
    done = asyncio.run(store.astep_unchanged(sid, step))
    assert done is not None and done[0] == "mine"
    _say(other, sid, "theirs")
    step, given = _append("stale!")  # as long as "theirs": the same meta but for its revision
    assert asyncio.run(store.astep_unchanged(sid, step)) is None
    assert given == [["mine"]]  # it was computed on the session without "theirs"...
    assert [t.observation.content for t in other.get(sid).history] == ["mine", "theirs"]
    # ...and, once this worker has read the session again, steps on it in one trip once more.
    assert [t.observation.content for t in store.get(sid).history] == ["mine", "theirs"]
    step, given = _append("next")
    assert asyncio.run(store.astep_unchanged(sid, step)) is not None
    with other.locked(sid):  # another worker is mid-step
        step, given = _append("while locked")
        assert asyncio.run(store.astep_unchanged(sid, step)) is None
    assert [t.observation.content for t in other.get(sid).history] == ["mine", "theirs", "next"]


@pytest.mark.parametrize("between", ["nothing", "a late resend", "another step", "a lock"])
def test_a_one_trip_step_run_twice_by_a_retry_is_kept_once(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, between: str
) -> None:
    """The asyncio client sends a call again, once, on a new connection when the first one's
    answer was lost: a step whose first run was written counts as written, whatever happened
    between the two runs (taken as not written, it was stepped again under the lock: the turn
    twice, answered 200)."""
    import asyncio

    from wmh.serving import redis_loop
    from wmh.serving.redis_loop import LoopRedisSessionStore

    store = LoopRedisSessionStore(redis_url, f"retried-{between.replace(' ', '-')}")
    other = RedisSessionStore(redis_url, store.prefix.removeprefix("wmh:"))
    sid = store.create("t").id

    async def twice() -> object:
        scripts = store._on_loop()
        script = scripts.step_if_unchanged

        async def run_twice(**kwargs):  # noqa: ANN003, ANN202
            await script(**kwargs)  # written; its answer lost with the connection
            if between == "a late resend":  # past the deadline, as the retry came in
                kwargs["args"][5] = redis_loop.now_us() - 1_000_000
            elif between == "another step":
                _say(other, sid, "theirs")
            elif between == "a lock":
                other.client.set(f"{other.prefix}:lock:{sid}", "someone-else", px=60_000)
            return await script(**kwargs)

        monkeypatch.setattr(scripts, "step_if_unchanged", run_twice)
        step, _ = _append("once")
        return await store.astep_unchanged(sid, step)

    done = asyncio.run(twice())
    assert done is not None and done[0] == "once"
    expected = ["once", "theirs"] if between == "another step" else ["once"]
    assert [t.observation.content for t in other.get(sid).history] == expected
    assert not store.clock_skewed


def test_a_one_trip_step_redis_runs_too_late_writes_nothing(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call Redis runs past its deadline (it waited in a stalled server until the client may
    have given up: a 503) is refused. A slow moment leaves the one-trip steps on; a Redis whose
    clock runs ahead of this host's would refuse every one, and the process locks first."""
    import asyncio

    from wmh.serving import redis_loop
    from wmh.serving.redis_loop import LoopRedisSessionStore

    store = LoopRedisSessionStore(redis_url, "late")
    sid = store.create("t").id
    monkeypatch.setattr(redis_loop, "REFUSED_AFTER_S", -1.0)  # as if sent a second ago
    step, given = _append("late")
    assert asyncio.run(store.astep_unchanged(sid, step)) is None
    assert given == [[]] and store.get(sid).history == []
    assert not store.clock_skewed  # Redis's clock agrees with ours: it was only late
    monkeypatch.setattr(redis_loop, "REFUSED_AFTER_S", 2.5)
    step, given = _append("in time")
    assert asyncio.run(store.astep_unchanged(sid, step)) is not None
    real_now = redis_loop.now_us
    monkeypatch.setattr(redis_loop, "now_us", lambda: real_now() - 10_000_000)  # 10 s behind
    step, given = _append("skewed")
    assert asyncio.run(store.astep_unchanged(sid, step)) is None
    assert store.clock_skewed
    monkeypatch.setattr(redis_loop, "now_us", real_now)
    step, given = _append("again")
    assert asyncio.run(store.astep_unchanged(sid, step)) is None
    assert given == []  # not even computed
    assert [t.observation.content for t in store.get(sid).history] == ["in time"]


def test_a_step_on_a_session_deleted_elsewhere_is_not_found_not_full(
    redis_url: str, built_model: Path
) -> None:
    """The one-trip step runs the session's limits on this worker's copy: a session another
    worker deleted, at its step cap in that copy, was answered 413 (full) instead of 404."""
    import asyncio

    from wmh.engine.world_model import SessionLimits
    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.store.loader import load_world_model

    store = LoopRedisSessionStore(redis_url, "deleted-full")
    wm, _ = load_world_model(built_model, store)
    wm.limits = SessionLimits(max_steps=1)
    sid = wm.new_session(task="a").id
    lookup = Action(name="get_user", arguments={"user_id": 1})
    asyncio.run(wm.astep_with_state(sid, lookup))
    RedisSessionStore(redis_url, "deleted-full").delete(sid)
    with pytest.raises(SessionNotFoundError):
        asyncio.run(wm.astep_with_state(sid, lookup))


def test_a_worker_keeps_no_large_meta_for_one_trip_steps(redis_url: str) -> None:
    """A seed state can be a megabyte: a worker keeps a session's meta (for one-trip steps) only
    up to CACHED_META_MAX, and steps a session with a larger one under the lock."""
    import asyncio

    from wmh.core.types import EnvState
    from wmh.serving.redis_loop import LoopRedisSessionStore
    from wmh.serving.redis_store import CACHED_META_MAX

    store = LoopRedisSessionStore(redis_url, "large-meta")
    small = store.create("t").id
    large = store.create("t", EnvState(scratchpad="x" * CACHED_META_MAX)).id
    assert store._cached(small)[2] is not None and store._cached(large)[2] is None
    step, given = _append("locked")
    assert asyncio.run(store.astep_unchanged(large, step)) is None and given == []
    assert store.get(large).state.scratchpad == "x" * CACHED_META_MAX
    assert store._cached(large)[2] is None  # nor once read


def test_a_worker_whose_sessions_keep_changing_elsewhere_locks_first_until_they_stop(
    redis_url: str,
) -> None:
    """Workers sharing an agent's steps at random find the session changed about every other
    step: computing a step before knowing is then mostly wasted, so the worker stops trying,
    and tries again once the sessions it locks are as it left them."""
    import asyncio

    from wmh.serving.redis_loop import LoopRedisSessionStore

    store = LoopRedisSessionStore(redis_url, "churn")
    other = RedisSessionStore(redis_url, "churn")
    sid = store.create("t").id

    async def locked_step(content: str) -> None:
        async with store.alocked(sid) as session:
            session.history.append(_said(content))
            await store.asave(session)

    tried = 0
    for n in range(6):  # another worker steps between every two of ours
        _say(other, sid, f"theirs {n}")
        step, given = _append(f"mine {n}")
        if asyncio.run(store.astep_unchanged(sid, step)) is None:
            asyncio.run(locked_step(f"mine {n}"))
        tried += len(given)
    assert tried == 6 and not store.changes.worth_trying
    step, given = _append("not tried")
    assert asyncio.run(store.astep_unchanged(sid, step)) is None and given == []
    for n in range(4):  # now only this worker steps: its locked reads find nothing new
        asyncio.run(locked_step(f"alone {n}"))
    step, given = _append("tried again")
    assert asyncio.run(store.astep_unchanged(sid, step)) is not None
    assert len(other.get(sid).history) == 6 * 2 + 4 + 1


def test_sessions_a_worker_lets_go_of_leave_nothing_in_its_replay_model(redis_url: str) -> None:
    """A worker's replay model kept the sessions it had stepped until 4,096 newer ones pushed
    them out, though the worker's own cache lets them go past `max_sessions`: a session ended
    on another worker, or evicted there, stayed in this one's replay memory."""
    from wmh.store.loader import load_world_model

    model = Path(__file__).resolve().parents[2] / "examples" / "airline" / "models" / "airline"
    here, _ = load_world_model(model, RedisSessionStore(redis_url, "drops", max_sessions=2))
    there, _ = load_world_model(model, RedisSessionStore(redis_url, "drops", max_sessions=2))
    actions = [step.action for step in here.retriever.table.steps(range(2))]
    memories = here.predictor._memories

    def stepped(task: str) -> str:
        session = here.new_session(task=task)
        for action in actions:  # (the replay model keeps a session from its second step)
            here.step(session.id, action)
        return session.id

    first = stepped("first")
    there.end_session(first)  # ended on the other worker
    second = stepped("second")
    assert set(memories) == {first, second}  # this worker cannot know yet
    third = stepped("third")  # its cache of two lets the first go
    assert set(memories) == {second, third}
    here.end_session(third)
    assert set(memories) == {second}

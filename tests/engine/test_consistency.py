from __future__ import annotations

import json

from wmh.core.types import Action, Observation, Turn
from wmh.engine.consistency import apply_session_state


def turn(name: str, args: dict, content: dict | list) -> Turn:
    return Turn(
        action=Action(name=name, arguments=args),
        observation=Observation(content=json.dumps(content)),
    )


def test_a_record_seen_in_the_session_updates_a_predicted_one_by_primary_key() -> None:
    history = [
        turn(
            "cancel_reservation",
            {"reservation_id": "A"},
            {"reservation_id": "A", "user_id": "mia", "status": "cancelled"},
        )
    ]
    predicted = json.dumps({"reservation_id": "A", "user_id": "neighbour", "status": "active"})
    content, changed = apply_session_state(predicted, history)
    assert json.loads(content) == {"reservation_id": "A", "user_id": "mia", "status": "cancelled"}
    assert changed == 2


def test_nested_entries_and_other_records_are_left_alone() -> None:
    history = [
        turn(
            "cancel_reservation",
            {"reservation_id": "A"},
            {
                "reservation_id": "A",
                "status": "cancelled",
                "payment_history": [{"payment_id": "card_1", "amount": -417}],
            },
        )
    ]
    other = {
        "reservation_id": "B",
        "status": "active",
        "payment_history": [{"payment_id": "card_1", "amount": 269}],
    }
    content, changed = apply_session_state(json.dumps(other), history)
    assert changed == 0 and json.loads(content) == other


def test_the_current_arguments_win_over_earlier_reads() -> None:
    history = [turn("get_user", {"user_id": 5}, {"user_id": 5, "city": "Paris"})]
    predicted = json.dumps({"user_id": 5, "city": "Oslo", "updated": True})
    content, _ = apply_session_state(predicted, history, {"user_id": 5, "city": "Lima"})
    assert json.loads(content)["city"] == "Lima"


def test_list_items_are_records_too() -> None:
    history = [turn("cancel_order", {"order_id": 7}, {"order_id": 7, "status": "cancelled"})]
    predicted = json.dumps([{"order_id": 7, "status": "pending"}, {"order_id": 8, "status": "x"}])
    content, changed = apply_session_state(predicted, history)
    assert json.loads(content)[0]["status"] == "cancelled" and changed == 1


def test_writes_are_learnt_from_records_that_change_within_a_run() -> None:
    from wmh.core.types import Step
    from wmh.engine.learnt import Lessons

    def step(i: int, name: str, content: dict) -> Step:
        return Step(
            action=Action(name=name, arguments={"reservation_id": "A"}),
            observation=Observation(content=json.dumps(content)),
            trace_id="t",
            index=i,
        )

    run = [
        step(0, "get_reservation", {"reservation_id": "A", "status": "active"}),
        step(1, "get_reservation", {"reservation_id": "A", "status": "active"}),
        step(2, "cancel", {"reservation_id": "A", "status": "cancelled"}),
        step(3, "get_reservation", {"reservation_id": "A", "status": "cancelled"}),
    ]
    assert Lessons.of([run]).state_writers() == ["cancel"]


def test_a_camel_case_id_is_an_identity_too() -> None:
    """`orderId` names a record as `order_id` does."""
    history = [turn("get_order", {"orderId": "A1"}, {"orderId": "A1", "status": "shipped"})]
    predicted = json.dumps({"orderId": "A1", "status": "pending"})
    content, changed = apply_session_state(predicted, history)
    assert json.loads(content) == {"orderId": "A1", "status": "shipped"} and changed == 1


def test_a_failed_write_shows_nothing_in_later_reads() -> None:
    """An `update_address` the environment refused changed nothing: its arguments are not a
    record the session showed (a bug taking them would read user 5 back as living in Quito)."""
    from wmh.engine.consistency import session_records, turn_records

    failed = Turn(
        action=Action(name="update_address", arguments={"user_id": 5, "city": "Quito"}),
        observation=Observation(content='{"user_id": 5, "city": "Quito"}', is_error=True),
    )
    assert turn_records(failed) == ()
    history = [turn("get_user", {"user_id": 5}, {"user_id": 5, "city": "Paris"}), failed]
    assert session_records(history) == [(("user_id", "5"), {"city": "Paris"})]
    predicted = json.dumps({"user_id": 5, "city": "Paris", "name": "Ana"})
    content, changed = apply_session_state(predicted, history)
    assert json.loads(content)["city"] == "Paris" and changed == 0


def test_a_writes_arguments_are_a_record_even_when_its_answer_is_not() -> None:
    """`update_address` answered only `{"ok": true}`: the record it set is in its arguments, so
    a later read of user 5 shows the new city (a bug ignoring the arguments would keep the
    recalled one)."""
    from wmh.engine.consistency import turn_records

    write = turn("update_address", {"user_id": 5, "city": "Quito"}, {"ok": True})
    assert turn_records(write) == ((("user_id", "5"), {"city": "Quito"}),)
    predicted = json.dumps({"user_id": 5, "city": "Paris", "name": "Ana"})
    content, changed = apply_session_state(predicted, [write])
    assert json.loads(content) == {"user_id": 5, "city": "Quito", "name": "Ana"} and changed == 1


def test_the_latest_record_the_session_showed_wins() -> None:
    """User 5 was read living in Paris, then moved to Quito: a later predicted read shows
    Quito (a bug applying the session's records newest first would show Paris again)."""
    history = [
        turn("get_user", {"user_id": 5}, {"user_id": 5, "city": "Paris"}),
        turn("update_address", {"user_id": 5}, {"user_id": 5, "city": "Quito"}),
    ]
    predicted = json.dumps({"user_id": 5, "city": "Oslo"})
    content, _ = apply_session_state(predicted, history)
    assert json.loads(content) == {"user_id": 5, "city": "Quito"}


def test_a_writes_answer_wins_over_its_arguments() -> None:
    """The environment's answer to a write is what it stored (here normalised): it wins over
    the arguments the write asked with."""
    write = turn(
        "update_address", {"user_id": 5, "city": "quito"}, {"user_id": 5, "city": "Quito, EC"}
    )
    predicted = json.dumps({"user_id": 5, "city": "Oslo"})
    content, _ = apply_session_state(predicted, [write])
    assert json.loads(content)["city"] == "Quito, EC"


def test_a_field_of_another_type_is_not_overwritten() -> None:
    """A session record's `balance` written as text does not replace a predicted number."""
    history = [turn("get_user", {"user_id": 5}, {"user_id": 5, "balance": "12.50"})]
    predicted = json.dumps({"user_id": 5, "balance": 9.0})
    content, changed = apply_session_state(predicted, history)
    assert json.loads(content) == {"user_id": 5, "balance": 9.0} and changed == 0


def test_a_record_whose_first_id_is_not_a_value_has_no_identity() -> None:
    """A reservation whose `reservation_id` is a list is not identified by the `user_id` after
    it (a foreign key): the user's record does not overwrite the reservation's status."""
    history = [turn("get_user", {"user_id": "mia"}, {"user_id": "mia", "status": "gold"})]
    reservation = {"reservation_id": ["A", "B"], "user_id": "mia", "status": "active"}
    content, changed = apply_session_state(json.dumps(reservation), history)
    assert json.loads(content) == reservation and changed == 0


def test_a_true_or_false_id_is_no_identity() -> None:
    """`{"id": true}` says a flag, not which record it is: two such answers are not one
    record."""
    history = [turn("toggle", {}, {"id": True, "status": "on"})]
    predicted = json.dumps({"id": True, "status": "off"})
    assert apply_session_state(predicted, history) == (predicted, 0)


def test_a_seed_state_mapping_of_records_seeds_each_record() -> None:
    """A session's seed state holds a record, a list of them, or a mapping of them by key:
    each identified record is one the session starts with."""
    from wmh.engine.consistency import seed_records

    seeded = seed_records(
        {
            "users": {"mia": {"user_id": "mia", "city": "Paris"}, "bo": {"user_id": "bo"}},
            "orders": [{"order_id": 7, "status": "new"}],
            "me": {"user_id": "ana", "city": "Lima"},
        }
    )
    assert seeded == [
        (("user_id", "mia"), {"city": "Paris"}),
        (("order_id", "7"), {"status": "new"}),
        (("user_id", "ana"), {"city": "Lima"}),
    ]

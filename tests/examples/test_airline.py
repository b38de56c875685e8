"""The airline example: its database really changes, and its capture round-trips through ingest.

examples/ is not a package, so the example's modules are loaded from their file paths.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.examples.loading import load_example_module
from wmh.core.types import ActionKind
from wmh.ingest import read_traces

capture_module = load_example_module("airline", "wmh_examples_airline_capture", "capture.py")
env_module = load_example_module(
    "airline", "wmh_examples_airline_env", "env.py"
)  # the module capture.py loaded
AirlineEnv = env_module.AirlineEnv


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    """Three traces captured twice with one seed, with every env call seen from outside."""
    folder = tmp_path_factory.mktemp("airline")
    first, second = folder / "first.jsonl", folder / "second.jsonl"
    calls: list[tuple[str, dict, str, bool]] = []
    real_call = AirlineEnv.call

    def spy(self, name: str, arguments: dict) -> tuple[str, bool]:
        result, is_error = real_call(self, name, arguments)
        calls.append((name, json.loads(json.dumps(arguments)), result, is_error))
        return result, is_error

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AirlineEnv, "call", spy)
        logs = capture_module.capture(first, seed=11, traces=3)
    capture_module.capture(second, seed=11, traces=3)
    return first, second, logs, calls


def _expected(log) -> list[tuple]:
    """The steps ingest should find: every tool call, and every message the user answered."""
    return [
        (ActionKind.TOOL_CALL, r.name, r.arguments, "", r.observation, r.is_error)
        if r.kind == "tool_call"
        else (ActionKind.MESSAGE, "", {}, r.content, r.observation, False)
        for r in log.records
        if r.answered
    ]


def _ingested(trace) -> list[tuple]:
    return [
        (
            step.action.kind,
            step.action.name,
            step.action.arguments,
            step.action.content,
            step.observation.content,
            step.observation.is_error,
        )
        for step in trace.steps
    ]


def _order(item: tuple) -> str:
    return json.dumps(item, default=str)


def test_capture_ingests_back_to_what_the_env_returned(captured):
    path, _, logs, calls = captured
    result = read_traces([path])
    assert len(result.traces) == len(logs) == 3
    got = sorted(((trace.task, _ingested(trace)) for trace in result.traces), key=_order)
    want = sorted(((log.task, _expected(log)) for log in logs), key=_order)
    assert got == want
    # The tool steps are exactly the calls the environment answered, in order.
    recorded = [
        (r.name, r.arguments, r.observation, r.is_error)
        for log in logs
        for r in log.records
        if r.kind == "tool_call"
    ]
    assert recorded == calls
    assert result.report.unanswered_tool_calls == 0


def test_same_seed_same_bytes(captured, tmp_path):
    first, second, _, _ = captured
    assert first.read_bytes() == second.read_bytes()
    other = tmp_path / "other.jsonl"
    capture_module.capture(other, seed=12, traces=3)
    assert other.read_bytes() != first.read_bytes()


def _call(env, name: str, **arguments: Any) -> Any:
    text, is_error = env.call(name, arguments)
    assert not is_error, text
    return json.loads(text)


def _cancellable(env) -> dict:
    return next(
        r
        for _, r in sorted(env.reservations.items())
        if r["status"] == "active"
        and r["flights"][0]["date"] > env_module.TODAY
        and r["cabin"] != "basic_economy"
        and all(
            env.flights[leg["flight_number"]]["dates"][leg["date"]]["status"] == "available"
            for leg in r["flights"]
        )
    )


def test_cancel_shows_in_later_reads_and_refunds():
    env = AirlineEnv(0)
    reservation_id = _cancellable(env)["reservation_id"]
    before = _call(env, "get_reservation_details", reservation_id=reservation_id)
    charged = sum(p["amount"] for p in before["payment_history"])
    _call(env, "cancel_reservation", reservation_id=reservation_id)
    after = _call(env, "get_reservation_details", reservation_id=reservation_id)
    assert after["status"] == "cancelled"
    assert sum(p["amount"] for p in after["payment_history"]) == 0
    assert len(after["payment_history"]) == len(before["payment_history"]) + 1
    assert charged > 0
    again, is_error = env.call("cancel_reservation", {"reservation_id": reservation_id})
    assert is_error and again == "Error: reservation is already cancelled"
    env.reset()
    restored = _call(env, "get_reservation_details", reservation_id=reservation_id)
    assert restored["status"] == "active"


def test_baggage_update_shows_in_later_reads():
    env = AirlineEnv(0)
    reservation = _cancellable(env)
    user = _call(env, "get_user_details", user_id=reservation["user_id"])
    card = next(m for m in user["payment_methods"] if m["source"] == "credit_card")
    total = reservation["total_baggages"] + 2
    nonfree = reservation["nonfree_baggages"] + 1
    _call(
        env,
        "update_reservation_baggages",
        reservation_id=reservation["reservation_id"],
        total_baggages=total,
        nonfree_baggages=nonfree,
        payment_id=card["id"],
    )
    after = _call(env, "get_reservation_details", reservation_id=reservation["reservation_id"])
    assert (after["total_baggages"], after["nonfree_baggages"]) == (total, nonfree)
    assert after["payment_history"][-1] == {"payment_id": card["id"], "amount": 50}


def _bookable_flight(env) -> tuple[dict, str]:
    for _, flight in sorted(env.flights.items()):
        for date, day in sorted(flight["dates"].items()):
            if day["status"] == "available" and day["available_seats"]["economy"] >= 2:
                return flight, date
    raise AssertionError("no bookable flight")


def _gift_card_user(env) -> dict:
    return next(
        u
        for _, u in sorted(env.users.items())
        if any(m["source"] == "gift_card" for m in u["payment_methods"].values())
    )


def test_booking_shows_in_user_details_seats_and_balances():
    env = AirlineEnv(0)
    flight, date = _bookable_flight(env)
    user = _gift_card_user(env)
    gift = next(m for m in user["payment_methods"].values() if m["source"] == "gift_card")
    card = next(m for m in user["payment_methods"].values() if m["source"] == "credit_card")
    balance = gift["amount"]
    search = {"origin": flight["origin"], "destination": flight["destination"], "date": date}
    row = next(
        r
        for r in _call(env, "search_direct_flight", **search)
        if r["flight_number"] == flight["flight_number"]
    )
    seats, price = row["available_seats"]["economy"], row["prices"]["economy"]
    passenger = {"first_name": "Ana", "last_name": "Lima", "dob": "1990-01-02"}
    booking = {
        "user_id": user["user_id"],
        "origin": flight["origin"],
        "destination": flight["destination"],
        "flight_type": "one_way",
        "cabin": "economy",
        "flights": [{"flight_number": flight["flight_number"], "date": date}],
        "passengers": [passenger],
        "total_baggages": 1,
        "nonfree_baggages": 0,
        "insurance": "yes",
    }
    total = price + 30
    short, is_error = env.call(
        "book_reservation",
        {**booking, "payment_methods": [{"payment_id": gift["id"], "amount": balance + total}]},
    )
    assert is_error and short == "Error: gift card balance is not enough"
    wrong, is_error = env.call(
        "book_reservation",
        {**booking, "payment_methods": [{"payment_id": card["id"], "amount": 1}]},
    )
    assert is_error and wrong == f"Error: payment amount does not add up, total price is {total}"
    use = min(balance, total)
    payments = [{"payment_id": gift["id"], "amount": use}]
    if total > use:
        payments.append({"payment_id": card["id"], "amount": total - use})
    booked = _call(env, "book_reservation", **booking, payment_methods=payments)
    profile = _call(env, "get_user_details", user_id=user["user_id"])
    assert profile["reservations"][-1] == booked["reservation_id"]
    assert next(m for m in profile["payment_methods"] if m["id"] == gift["id"])["amount"] == (
        balance - use
    )
    row_after = next(
        r
        for r in _call(env, "search_direct_flight", **search)
        if r["flight_number"] == flight["flight_number"]
    )
    assert row_after["available_seats"]["economy"] == seats - 1
    assert _call(env, "get_reservation_details", reservation_id=booked["reservation_id"]) == booked
    _call(env, "cancel_reservation", reservation_id=booked["reservation_id"])
    refunded = _call(env, "get_user_details", user_id=user["user_id"])
    assert next(m for m in refunded["payment_methods"] if m["id"] == gift["id"])["amount"] == (
        balance
    )


def test_errors_unknown_tool_missing_records_and_bad_arguments():
    env = AirlineEnv(0)
    assert env.call("get_user_detail", {"user_id": "x"}) == (
        "Error: unknown tool 'get_user_detail'",
        True,
    )
    assert env.call("get_user_details", {"user_id": "nobody_0000"}) == (
        "Error: user not found",
        True,
    )
    assert env.call("get_reservation_details", {"reservation_id": "ZZZZZZ"}) == (
        "Error: reservation not found",
        True,
    )
    assert env.call("get_user_details", {}) == ("Error: missing argument 'user_id'", True)
    assert env.call("calculate", {"expression": "2 x 3"})[1] is True
    assert env.call("calculate", {"expression": "(100 + 30) * 2"}) == (
        '{"expression": "(100 + 30) * 2", "result": 260}',
        False,
    )
    assert set(env.tools()) >= {
        "get_user_details",
        "get_reservation_details",
        "search_direct_flight",
        "search_onestop_flight",
        "list_all_airports",
        "book_reservation",
        "cancel_reservation",
        "update_reservation_baggages",
        "update_reservation_passengers",
        "send_certificate",
        "calculate",
        "transfer_to_human_agents",
    }

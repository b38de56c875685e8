"""Record a scripted customer-service agent (no LLM) playing the airline environment.

Each trace is one seeded customer request played against a fresh `AirlineEnv`: lookups, bookings,
cancellations, changes and questions, with the slips real agents make, written as OTLP JSON lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from wmh.capture import EpisodeRecording, TraceRecorder

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "traces.otel.jsonl"


def _load_env_module() -> ModuleType:
    """The sibling env.py under a name of its own: examples/ is not a package."""
    name = "wmh_examples_airline_env"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "env.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {HERE / 'env.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


airline = _load_env_module()
AirlineEnv = airline.AirlineEnv
AIRPORTS: dict[str, str] = airline.AIRPORTS
BAG_PRICE: int = airline.BAG_PRICE
FIRST_NAMES: list[str] = airline.FIRST_NAMES
FREE_BAGS: dict[str, dict[str, int]] = airline.FREE_BAGS
INSURANCE_PER_PASSENGER: int = airline.INSURANCE_PER_PASSENGER
LAST_NAMES: list[str] = airline.LAST_NAMES
TODAY: str = airline.TODAY
MISSPELT_CALL_RATE = 0.03
MISSPELLINGS = {
    "get_user_details": ("get_user_detail", "get_user", "get_customer_details"),
    "get_reservation_details": ("get_reservation", "get_booking_details"),
    "get_flight_status": ("flight_status", "get_flight"),
    "search_direct_flight": ("search_direct_flights", "search_flights"),
    "search_onestop_flight": ("search_one_stop_flight", "search_onestop_flights"),
    "book_reservation": ("create_reservation", "book_flight"),
    "cancel_reservation": ("cancel_booking",),
    "update_reservation_baggages": ("update_reservation_baggage", "update_baggage"),
    "update_reservation_flights": ("update_flights",),
    "update_reservation_passengers": ("update_passengers",),
    "list_all_airports": ("list_airports",),
    "calculate": ("calculator", "calc"),
    "send_certificate": ("issue_certificate",),
    "transfer_to_human_agents": ("transfer_to_human_agent", "transfer_to_human"),
}
FAREWELLS = (
    "You're welcome. Have a great day!",
    "Thank you for flying with us. Goodbye!",
    "Glad I could help. Safe travels!",
)
CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}
THANKS = (
    "No, that's all. Thanks!",
    "That's everything, thank you.",
    "Nope, you've been very helpful.",
    "No thanks, have a good day.",
)


@dataclass(slots=True)
class Record:
    """One agent action and what came back, as the environment (or user) answered it."""

    kind: str  # "tool_call" or "message"
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    content: str = ""
    observation: str = ""
    is_error: bool = False
    answered: bool = True  # False for a message the user never replied to (not a step)


@dataclass(slots=True)
class EpisodeLog:
    task: str
    scenario: str
    records: list[Record] = field(default_factory=list)


@dataclass(slots=True)
class Result:
    """A tool answer: parsed JSON on success, the error text on failure."""

    data: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class Agent:
    """The scripted agent's hands and voice: every call and message is recorded and logged."""

    def __init__(
        self, episode: EpisodeRecording, env: AirlineEnv, rng: random.Random, log: EpisodeLog
    ) -> None:
        self.episode = episode
        self.env = env
        self.rng = rng
        self.log = log

    def _run(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        text, is_error = self.episode.call_tool(
            name, arguments, lambda args: self.env.call(name, args)
        )
        self.log.records.append(
            Record("tool_call", name, arguments, observation=text, is_error=is_error)
        )
        return text, is_error

    def call(self, name: str, **arguments: Any) -> Result:
        """Call a tool; now and then the agent misspells its name first, as models do."""
        if name in MISSPELLINGS and self.rng.random() < MISSPELT_CALL_RATE:
            self._run(self.rng.choice(MISSPELLINGS[name]), arguments)
        text, is_error = self._run(name, arguments)
        return Result(error=text) if is_error else Result(data=json.loads(text))

    def say(self, text: str, reply: str | None = None) -> None:
        self.episode.say(text, reply=reply)
        self.log.records.append(
            Record("message", content=text, observation=reply or "", answered=reply is not None)
        )

    def wrap_up(self) -> None:
        """Sometimes offer more help; often the user's thanks ends it."""
        if self.rng.random() < 0.1:
            self.say("Is there anything else I can help you with?", self.rng.choice(THANKS))

    def sign_off(self) -> None:
        """End with a closing line when the user spoke last.

        A user's reply is only written into the next chat span's input, so without a closing
        turn the last reply of the conversation would never reach the trace.
        """
        last = self.log.records[-1] if self.log.records else None
        if last is not None and last.kind == "message" and last.answered:
            self.say(self.rng.choice(FAREWELLS))


@dataclass(slots=True)
class Script:
    """A customer request: the opening message and how the conversation plays out."""

    scenario: str
    task: str
    play: Callable[[Agent], None]


# --- small helpers --------------------------------------------------------------------------


def day_words(date: str) -> str:
    return f"May {int(date[-2:])}"


def city(code: str) -> str:
    return AIRPORTS[code]


def typo(value: str, rng: random.Random) -> str:
    """A plausible mistyping: two neighbouring characters swapped or one character changed."""
    chars = list(value)
    for _ in range(10):
        i = rng.randrange(len(chars) - 1)
        if chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            return "".join(chars)
    i = rng.randrange(len(chars))
    chars[i] = "7" if chars[i] != "7" else "3"
    return "".join(chars)


def money(amount: float) -> str:
    return f"${amount:,.0f}" if amount == int(amount) else f"${amount:,.2f}"


def person_name(person: dict[str, str]) -> str:
    return f"{person['first_name']} {person['last_name']}"


def trip_words(reservation: dict[str, Any]) -> str:
    legs = reservation["flights"]
    kind = "round trip" if reservation["flight_type"] == "round_trip" else "one-way trip"
    return (
        f"{kind} from {city(reservation['origin'])} to {city(reservation['destination'])} "
        f"departing {day_words(legs[0]['date'])}"
    )


def payment_words(method: dict[str, Any]) -> str:
    if method["source"] == "credit_card":
        return f"{method['brand'].title()} ending in {method['last_four']}"
    kind = "gift card" if method["source"] == "gift_card" else "travel certificate"
    return f"{kind} ({money(method['amount'])} left)"


def cards(user: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in user["payment_methods"] if m["source"] == "credit_card"]


def identify(agent: Agent, user: dict[str, Any], given: bool) -> dict[str, Any]:
    """Get the user's profile, asking for the id when the request did not include it."""
    rng = agent.rng
    user_id = user["user_id"]
    if not given:
        first = typo(user_id, rng) if rng.random() < 0.12 else user_id
        agent.say(
            rng.choice(
                (
                    "I can help with that. Could you please give me your user id?",
                    "Sure. First, may I have your user id so I can pull up your profile?",
                    "Happy to help. What is the user id on your account?",
                )
            ),
            rng.choice(("It's {}.", "Sure, {}", "My user id is {}.")).format(first),
        )
    else:
        first = typo(user_id, rng) if rng.random() < 0.08 else user_id
    found = agent.call("get_user_details", user_id=first)
    if found.ok:
        return found.data
    agent.say(
        f"I couldn't find a profile with the id {first}. Could you double-check it?",
        rng.choice(("Oh sorry, it's {}.", "My mistake, it should be {}.", "Try {}.")).format(
            user_id
        ),
    )
    return agent.call("get_user_details", user_id=user_id).data


def find_reservation(agent: Agent, profile: dict[str, Any], target: str) -> dict[str, Any] | None:
    """Read the user's reservations one by one until the one the user means turns up."""
    for reservation_id in profile["reservations"]:
        found = agent.call("get_reservation_details", reservation_id=reservation_id)
        if found.ok and found.data["reservation_id"] == target:
            return found.data
    return None


def ask_reservation(agent: Agent, reservation_id: str, given: bool) -> dict[str, Any]:
    """Look a reservation up by the id the user gives, recovering from a mistyped id."""
    rng = agent.rng
    if not given:
        agent.say(
            "Could you tell me the reservation id?",
            rng.choice(("It's {}.", "The confirmation code is {}.", "{}")).format(reservation_id),
        )
    first = typo(reservation_id, rng) if rng.random() < 0.12 else reservation_id
    if first in agent.env.reservations:  # a slip that lands on another booking is no slip
        first = reservation_id
    found = agent.call("get_reservation_details", reservation_id=first)
    if found.ok and found.data["reservation_id"] == reservation_id:
        return found.data
    agent.say(
        f"I can't find a reservation with the code {first}. Could you check it again?",
        f"Sorry, it's {reservation_id}.",
    )
    return agent.call("get_reservation_details", reservation_id=reservation_id).data


def pick_user(env: AirlineEnv, rng: random.Random) -> dict[str, Any]:
    return env.users[rng.choice(sorted(env.users))]


def pick_reservation(
    env: AirlineEnv, rng: random.Random, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    candidates = [r for _, r in sorted(env.reservations.items()) if accept(r)]
    return rng.choice(candidates) if candidates else None


def upcoming(reservation: dict[str, Any]) -> bool:
    return reservation["status"] == "active" and reservation["flights"][0]["date"] > TODAY


def new_person(rng: random.Random) -> dict[str, str]:
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES),
        "dob": f"{rng.randint(1955, 2012)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def id_phrase(user_id: str, rng: random.Random) -> str:
    return rng.choice((f" My user id is {user_id}.", f" (user id: {user_id})", f" I'm {user_id}."))


# --- scenarios ------------------------------------------------------------------------------


def cancel_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    roll = rng.random()
    if roll < 0.55:
        reservation = pick_reservation(env, rng, upcoming)
    elif roll < 0.85:  # something the rules will not let go: flown or already cancelled
        reservation = pick_reservation(env, rng, lambda r: not upcoming(r))
    else:
        reservation = pick_reservation(env, rng, lambda r: r["status"] == "active")
    if reservation is None:
        return None
    user = env.users[reservation["user_id"]]
    gives_id = rng.random() < 0.6
    by_code = rng.random() < 0.7
    what = (
        f"reservation {reservation['reservation_id']}"
        if by_code
        else f"my trip from {city(reservation['origin'])} to {city(reservation['destination'])}"
    )
    opener = rng.choice(
        (
            "Hi, I need to cancel {what}.",
            "Hello. Please cancel {what}, my plans changed.",
            "I'd like to cancel {what} and get my money back.",
            "Something came up and I can't travel. Can you cancel {what}?",
        )
    )
    task = opener.format(what=what) + (id_phrase(user["user_id"], rng) if gives_id else "")

    def play(agent: Agent) -> None:
        target = reservation["reservation_id"]
        if by_code:  # the booking names its owner, so no profile lookup is needed
            found = ask_reservation(agent, target, True)
            if not gives_id:
                agent.say(
                    "To verify it's yours, could you confirm the user id on the booking?",
                    f"Sure, it's {user['user_id']}.",
                )
        else:
            found = find_reservation(agent, identify(agent, user, gives_id), target)
        if found is None:
            agent.say("I couldn't find that trip on your profile.", "Never mind then.")
            return
        agent.say(
            f"I found reservation {target}: a {trip_words(found)} in "
            f"{CABIN_WORDS[found['cabin']]} for {len(found['passengers'])} passenger(s). "
            f"Do you want me to cancel it? Refunds go back to the original payment method.",
            rng.choice(("Yes, please cancel it.", "Yes, go ahead.", "Yes.")),
        )
        done = agent.call("cancel_reservation", reservation_id=target)
        if done.ok:
            refund = -sum(p["amount"] for p in done.data["payment_history"] if p["amount"] < 0)
            doubtful = rng.random() < 0.2
            agent.say(
                f"Reservation {target} is cancelled. A refund of {money(refund)} will reach "
                "your original payment method within 5 to 7 business days.",
                "Can you confirm it's really cancelled?" if doubtful else "Great, thanks.",
            )
            if doubtful:
                check = agent.call("get_reservation_details", reservation_id=target)
                agent.say(f"Yes, the reservation now shows as {check.data['status']}.", "Thanks.")
            agent.wrap_up()
            return
        reason = done.error.removeprefix("Error: ")
        complaint = rng.random()
        agent.say(
            f"I'm sorry, I couldn't cancel it: {reason}.",
            "That's not acceptable. I want to speak to a person."
            if complaint < 0.35
            else "Okay, I understand.",
        )
        if complaint < 0.35:
            agent.call(
                "transfer_to_human_agents",
                summary=f"User {user['user_id']} wants to cancel {target}, which was refused "
                f"({reason}), and asked for a human agent.",
            )
            agent.say("I've transferred you to a human agent. Please hold on.")
        else:
            agent.wrap_up()

    return Script("cancel", task, play)


def search_options(
    agent: Agent, origin: str, destination: str, date: str
) -> list[list[dict[str, Any]]]:
    """Direct flights first, one-stop itineraries when there are none."""
    direct = agent.call("search_direct_flight", origin=origin, destination=destination, date=date)
    options = [[row] for row in direct.data] if direct.ok else []
    if not options:
        onestop = agent.call(
            "search_onestop_flight", origin=origin, destination=destination, date=date
        )
        options = onestop.data if onestop.ok else []
    return options


def option_words(option: list[dict[str, Any]], cabin: str) -> str:
    legs = " + ".join(f"{leg['flight_number']} {leg['departure_time'][:5]}" for leg in option)
    price = sum(leg["prices"][cabin] for leg in option)
    return f"{legs} ({money(price)} per person)"


def book_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    user = pick_user(env, rng)
    flights = [f for _, f in sorted(env.flights.items())]
    if rng.random() < 0.8:
        route = rng.choice(flights)
        origin, destination = route["origin"], route["destination"]
    else:
        origin, destination = rng.sample(sorted(AIRPORTS), 2)
    day = rng.randint(16, 27)
    date = f"2026-05-{day:02d}"
    round_trip = rng.random() < 0.2
    return_date = f"2026-05-{day + rng.randint(2, 4):02d}"
    cabin = rng.choices(("basic_economy", "economy", "business"), weights=(2, 5, 2))[0]
    count = rng.choice((1, 1, 1, 2, 2, 3))
    holder = {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"]}
    party = [{**holder, "dob": user["dob"]}, *user["saved_passengers"][: count - 1]]
    while len(party) < count:
        party.append(new_person(rng))
    bags = rng.choice((0, 1, 1, 2, 3))
    insurance = rng.random() < 0.4
    gives_id = rng.random() < 0.7
    by_city = rng.random() < 0.25
    trip = "a round trip" if round_trip else "a one-way flight"
    when = f"on {day_words(date)}" + (
        f", coming back {day_words(return_date)}" if round_trip else ""
    )
    task = rng.choice(
        (
            "Hi, I'd like to book {trip} from {o} to {d} {when}, {cabin}, for {n}.",
            "I need {trip} {o} to {d} {when}. {cabin_cap} please, {n}.",
            "Can you book me {trip} from {o} to {d} {when}? {n_cap}, {cabin}.",
        )
    ).format(
        trip=trip,
        o=city(origin) if by_city else origin,
        d=city(destination) if by_city else destination,
        when=when,
        cabin=CABIN_WORDS[cabin],
        cabin_cap=CABIN_WORDS[cabin].capitalize(),
        n="just me" if count == 1 else f"{count} passengers",
        n_cap="Just me" if count == 1 else f"{count} passengers",
    ) + (id_phrase(user["user_id"], rng) if gives_id else "")

    def play(agent: Agent) -> None:
        profile = identify(agent, user, gives_id)
        if by_city:
            agent.call("list_all_airports")
        outbound = search_options(agent, origin, destination, date)
        if not outbound:
            agent.say(
                f"I'm sorry, there are no bookable flights from {origin} to {destination} on "
                f"{day_words(date)}, direct or with one stop.",
                rng.choice(("Okay, thanks anyway.", "That's a shame. I'll try another day.")),
            )
            agent.wrap_up()
            return
        legs = choose_option(agent, outbound, cabin, count)
        flight_type = "one_way"
        if round_trip:
            inbound = search_options(agent, destination, origin, return_date)
            if inbound:
                legs += choose_option(agent, inbound, cabin, count)
                flight_type = "round_trip"
            else:
                agent.say(
                    f"There are no return flights on {day_words(return_date)}. Would you like "
                    "to book the outbound flight only?",
                    "Yes, just one way then.",
                )
        free = FREE_BAGS[profile["membership"]][cabin] * count
        nonfree = max(0, bags - free)
        dobs = "; ".join(f"{person_name(p)}, born {p['dob']}" for p in party)
        agent.say(
            "Who will be travelling (name and date of birth for each passenger)? How many "
            f"checked bags? As a {profile['membership']} member you get {free} free, extra bags "
            f"are {money(BAG_PRICE)} each. And would you like travel insurance at "
            f"{money(INSURANCE_PER_PASSENGER)} per passenger?",
            f"{dobs}. {bags} bag{'s' if bags != 1 else ''}, "
            + ("and yes to insurance." if insurance else "no insurance."),
        )
        fare = sum(leg["prices"][cabin] for leg in legs)
        forgot_insurance = insurance and rng.random() < 0.2
        expression = f"{fare} * {count}" + (f" + {BAG_PRICE} * {nonfree}" if nonfree else "")
        if insurance and not forgot_insurance:
            expression += f" + {INSURANCE_PER_PASSENGER} * {count}"
        total = agent.call("calculate", expression=expression).data["result"]
        methods = profile["payment_methods"]
        stored = [m for m in methods if m["source"] != "credit_card"]
        method = rng.choice(stored if stored and rng.random() < 0.6 else methods)
        request = {
            "user_id": profile["user_id"],
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": [
                {"flight_number": leg["flight_number"], "date": leg["date"]} for leg in legs
            ],
            "passengers": party,
            "total_baggages": bags,
            "nonfree_baggages": nonfree,
            "insurance": "yes" if insurance else "no",
        }
        payments = plan_payment(profile, method, total, careful=rng.random() < 0.35)
        agent.say(
            f"To confirm: {flight_type.replace('_', '-')} {origin}-{destination}, "
            f"{CABIN_WORDS[cabin]}, flights "
            + ", ".join(f"{leg['flight_number']} on {leg['date']}" for leg in legs)
            + f", {count} passenger(s), {bags} bag(s), insurance {request['insurance']}, "
            f"total {money(total)}. How would you like to pay? On file: "
            + "; ".join(payment_words(m) for m in methods)
            + ".",
            f"Book it with my {payment_words(method).split(' (')[0]}.",
        )
        booked = agent.call("book_reservation", **request, payment_methods=payments)
        for _ in range(3):
            if booked.ok:
                break
            fixed = recover_booking(agent, profile, booked.error, payments, total)
            if fixed is None:
                return
            payments, total = fixed
            booked = agent.call("book_reservation", **request, payment_methods=payments)
        if not booked.ok:
            agent.say("I'm sorry, I wasn't able to complete the booking.", "Okay.")
            return
        agent.say(
            f"You're booked! Your reservation id is {booked.data['reservation_id']}.",
            rng.choice(("Perfect, thank you!", "Great, thanks.")),
        )
        if rng.random() < 0.1:
            agent.call("get_user_details", user_id=profile["user_id"])
            agent.say(f"I can see {booked.data['reservation_id']} on your profile now.", "Thanks!")
        agent.wrap_up()

    return Script("book", task, play)


def choose_option(
    agent: Agent, options: list[list[dict[str, Any]]], cabin: str, count: int
) -> list[dict[str, Any]]:
    """Offer up to three options; the user picks one, usually one with enough seats."""
    rng = agent.rng
    shown = options[:3]
    listing = "; ".join(f"({i + 1}) {option_words(o, cabin)}" for i, o in enumerate(shown))
    roomy = [
        i for i, o in enumerate(shown) if min(leg["available_seats"][cabin] for leg in o) >= count
    ]
    pick = rng.choice(roomy) if roomy and rng.random() < 0.85 else rng.randrange(len(shown))
    agent.say(
        f"Here is what I found for {shown[0][0]['date']}: {listing}. Which would you like?",
        rng.choice(("Option {}, please.", "Let's do number {}.", "I'll take option {}.")).format(
            pick + 1
        ),
    )
    return [{**leg} for leg in shown[pick]]


def plan_payment(
    profile: dict[str, Any], method: dict[str, Any], total: float, careful: bool
) -> list[dict[str, Any]]:
    """A careful agent splits a short balance with a card; a hasty one charges it all."""
    balance = method.get("amount")
    if balance is None or balance >= total or not careful:
        return [{"payment_id": method["id"], "amount": total}]
    card = cards(profile)[0]
    return [
        {"payment_id": method["id"], "amount": balance},
        {"payment_id": card["id"], "amount": round(total - balance, 2)},
    ]


def recover_booking(
    agent: Agent,
    profile: dict[str, Any],
    error: str,
    payments: list[dict[str, Any]],
    total: float,
) -> tuple[list[dict[str, Any]], float] | None:
    """React to a failed booking: fix the total or the payment split, or give up."""
    rng = agent.rng
    if "does not add up" in error:
        corrected = float(error.rsplit(" ", 1)[-1])
        agent.say(
            f"I'm sorry, I left something out of the total: it is {money(corrected)}. "
            "Is that still okay?",
            "Yes, that's fine.",
        )
        last = payments[-1]
        fixed = [*payments[:-1], {**last, "amount": round(last["amount"] + corrected - total, 2)}]
        return fixed, corrected
    if "balance is not enough" in error:
        method = next(m for m in profile["payment_methods"] if m["id"] == payments[0]["payment_id"])
        card = cards(profile)[0]
        agent.say(
            f"Your {payment_words(method)} doesn't cover {money(total)}. I can use the "
            f"balance and put the rest on your {payment_words(card)}. Okay?",
            rng.choice(("Yes, do that.", "Sure.")),
        )
        return [
            {"payment_id": method["id"], "amount": method["amount"]},
            {"payment_id": card["id"], "amount": round(total - method["amount"], 2)},
        ], total
    agent.say(
        f"The booking failed: {error.removeprefix('Error: ')}. Would you like to try "
        "different flights?",
        rng.choice(("No, I'll think about it and call back.", "Not now, thanks.")),
    )
    return None


def baggage_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    if rng.random() < 0.1:  # the customer picks a trip they already cancelled
        reservation = pick_reservation(env, rng, lambda r: r["status"] == "cancelled")
    else:
        reservation = pick_reservation(env, rng, upcoming)
    if reservation is None:
        return None
    user = env.users[reservation["user_id"]]
    remove = rng.random() < 0.12
    extra = rng.choice((1, 1, 2))
    gives_code = rng.random() < 0.7
    ref = (
        f"reservation {reservation['reservation_id']}"
        if gives_code
        else f"my trip to {city(reservation['destination'])}"
    )
    task = (
        f"Hi, I'd like to remove a checked bag from {ref}."
        if remove
        else rng.choice(
            (
                f"Hello, can I add {extra} checked bag{'s' if extra > 1 else ''} to {ref}?",
                f"I need to add {extra} more bag{'s' if extra > 1 else ''} to {ref}.",
            )
        )
    ) + id_phrase(user["user_id"], rng)

    def play(agent: Agent) -> None:
        target = reservation["reservation_id"]
        if gives_code:
            found = ask_reservation(agent, target, True)
            profile = agent.call("get_user_details", user_id=user["user_id"]).data
        else:
            profile = identify(agent, user, True)
            found = find_reservation(agent, profile, target)
        if found is None:
            return
        if remove and not found["total_baggages"]:
            agent.say(f"{target} has no checked bags to remove.", "Oh, my mistake. Thanks.")
            return
        total = found["total_baggages"] + (-1 if remove else extra)
        free = FREE_BAGS[profile["membership"]][found["cabin"]] * len(found["passengers"])
        nonfree = max(found["nonfree_baggages"], total - free, 0)
        cost = BAG_PRICE * (nonfree - found["nonfree_baggages"])
        card = rng.choice(profile["payment_methods"])
        if not remove and cost:
            agent.say(
                f"You would have {total} checked bags, {nonfree} of them paid, so the change costs "
                f"{money(cost)}. Which payment method should I charge?",
                f"Use the {payment_words(card).split(' (')[0]}.",
            )
        elif not remove:
            agent.say(
                f"Those bags are within your free allowance. Shall I add them to {target}?",
                "Yes, please.",
            )
        done = agent.call(
            "update_reservation_baggages",
            reservation_id=target,
            total_baggages=total,
            nonfree_baggages=min(nonfree, total),
            payment_id=card["id"],
        )
        if done.ok:
            agent.say(
                f"Done: {target} now has {done.data['total_baggages']} checked bag(s).",
                "Thank you.",
            )
            agent.wrap_up()
        else:
            agent.say(
                f"I wasn't able to change the bags: {done.error.removeprefix('Error: ')}.",
                rng.choice(("Oh well. Thanks for trying.", "I see, okay.")),
            )

    return Script("baggage", task, play)


def passengers_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    reservation = pick_reservation(env, rng, upcoming)
    if reservation is None:
        return None
    user = env.users[reservation["user_id"]]
    people = [dict(p) for p in reservation["passengers"]]
    index = rng.randrange(len(people))
    before = person_name(people[index])
    fix_dob = rng.random() < 0.35
    if fix_dob:
        people[index]["dob"] = f"{int(people[index]['dob'][:4]) + 1}{people[index]['dob'][4:]}"
        ask = f"the date of birth for {before} should be {people[index]['dob']}"
    else:
        people[index] = new_person(rng)
        ask = f"{before} can't travel, please put {person_name(people[index])} on it instead"
    gives_code = rng.random() < 0.75
    where = f"reservation {reservation['reservation_id']}" if gives_code else "my booking"
    task = (
        f"On {where}, {ask}."
        + id_phrase(user["user_id"], rng)
        + (f" Their birthday is {people[index]['dob']}." if not fix_dob else "")
    )

    def play(agent: Agent) -> None:
        target = reservation["reservation_id"]
        ask_reservation(agent, target, gives_code)
        agent.say(
            f"I'll update the passengers on {target} to: "
            + ", ".join(f"{person_name(p)} ({p['dob']})" for p in people)
            + ". Is that correct?",
            "Yes, that's right.",
        )
        sent = people
        if len(people) > 1 and rng.random() < 0.25:  # forgets the passengers that stay the same
            sent = [people[index]]
        done = agent.call("update_reservation_passengers", reservation_id=target, passengers=sent)
        if not done.ok:
            done = agent.call(
                "update_reservation_passengers", reservation_id=target, passengers=people
            )
        if done.ok:
            agent.say(
                f"All set, {target} now lists "
                + ", ".join(person_name(p) for p in done.data["passengers"])
                + ".",
                "Great, thanks!",
            )
        agent.wrap_up()

    return Script("passengers", task, play)


def change_flight_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    reservation = pick_reservation(
        env, rng, lambda r: upcoming(r) and r["flights"][0]["date"] >= "2026-05-17"
    )
    if reservation is None:
        return None
    user = env.users[reservation["user_id"]]
    upgrade = reservation["cabin"] != "business" and rng.random() < 0.3
    leg = reservation["flights"][-1]
    shift = rng.choice((-2, -1, 1, 2))
    earliest = max(17, int(reservation["flights"][0]["date"][-2:]))
    new_date = f"2026-05-{min(30, max(earliest, int(leg['date'][-2:]) + shift)):02d}"
    if upgrade:
        task = f"I'd like to upgrade reservation {reservation['reservation_id']} to business class."
    else:
        which = "return flight" if reservation["flight_type"] == "round_trip" else "flight"
        task = (
            f"Can I move the {which} on reservation {reservation['reservation_id']} "
            f"to {day_words(new_date)}?"
        )
    task += id_phrase(user["user_id"], rng)

    def play(agent: Agent) -> None:
        target = reservation["reservation_id"]
        found = ask_reservation(agent, target, True)
        profile = agent.call("get_user_details", user_id=user["user_id"]).data
        card = cards(profile)[0]
        refs = [{"flight_number": f["flight_number"], "date": f["date"]} for f in found["flights"]]
        if upgrade:
            cabin = "business"
            fares = []
            for f in found["flights"]:
                rows = agent.call(
                    "search_direct_flight",
                    origin=f["origin"],
                    destination=f["destination"],
                    date=f["date"],
                ).data
                same = [r for r in rows if r["flight_number"] == f["flight_number"]]
                fares.append(same[0]["prices"]["business"] if same else f["price"])
            extra = (sum(fares) - sum(f["price"] for f in found["flights"])) * len(
                found["passengers"]
            )
        else:
            cabin = found["cabin"]
            options = agent.call(
                "search_direct_flight",
                origin=leg["origin"],
                destination=leg["destination"],
                date=new_date,
            )
            if not options.ok or not options.data:
                agent.say(
                    f"There are no direct flights for that leg on {day_words(new_date)}.",
                    "Then I'll keep my current flight.",
                )
                agent.wrap_up()
                return
            choice = options.data[0]
            refs[-1] = {"flight_number": choice["flight_number"], "date": new_date}
            extra = (choice["prices"][cabin] - leg["price"]) * len(found["passengers"])
        agent.say(
            f"The change {'costs' if extra >= 0 else 'refunds'} {money(abs(extra))} in total, "
            f"charged or refunded to your {payment_words(card)}. Shall I go ahead?",
            "Yes, go ahead.",
        )
        done = agent.call(
            "update_reservation_flights",
            reservation_id=target,
            cabin=cabin,
            flights=refs,
            payment_id=card["id"],
        )
        if done.ok:
            agent.say(
                f"Done. {target} is now "
                + ", ".join(f"{f['flight_number']} on {f['date']}" for f in done.data["flights"])
                + f" in {CABIN_WORDS[done.data['cabin']]}.",
                "Thanks a lot.",
            )
            agent.wrap_up()
        else:
            agent.say(
                f"I'm sorry, the change was refused: {done.error.removeprefix('Error: ')}.",
                rng.choice(("That's disappointing.", "Okay, I'll keep it as it is.")),
            )

    return Script("change_flight", task, play)


def info_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    user = pick_user(env, rng)
    kind = rng.choice(("balance", "status", "trips", "airports", "allowance", "price"))
    user_id = user["user_id"]
    if kind == "balance":
        task = "How much do I have left on my gift cards and certificates?" + id_phrase(
            user_id, rng
        )

        def play(agent: Agent) -> None:
            profile = identify(agent, user, True)
            stored = [m for m in profile["payment_methods"] if "amount" in m]
            answer = (
                "Here are your balances: "
                + "; ".join(f"{m['id']}: {money(m['amount'])}" for m in stored)
                + "."
                if stored
                else "You don't have any gift cards or certificates on file."
            )
            agent.say(answer, "Good to know, thanks.")
            agent.wrap_up()

    elif kind == "status":
        reservation = pick_reservation(env, rng, lambda r: r["flights"][0]["date"] >= "2026-05-13")
        if reservation is None:
            return None
        leg = reservation["flights"][0]
        number = typo(leg["flight_number"], rng) if rng.random() < 0.15 else leg["flight_number"]
        if number != leg["flight_number"] and number in env.flights:
            number = leg["flight_number"]
        task = f"What's the status of flight {number} on {day_words(leg['date'])}?"

        def play(agent: Agent) -> None:
            status = agent.call("get_flight_status", flight_number=number, date=leg["date"])
            if not status.ok:
                agent.say(
                    f"I can't find flight {number}. Could you check the flight number?",
                    f"Sorry, it's {leg['flight_number']}.",
                )
                status = agent.call(
                    "get_flight_status", flight_number=leg["flight_number"], date=leg["date"]
                )
            agent.say(
                f"Flight {leg['flight_number']} on {day_words(leg['date'])} is "
                f"{status.data['status']}.",
                "Thanks!",
            )

    elif kind == "trips":
        task = rng.choice(
            (
                "Can you tell me which trips I have booked?",
                "I forgot my reservation codes, can you list my bookings?",
            )
        ) + id_phrase(user_id, rng)

        def play(agent: Agent) -> None:
            profile = identify(agent, user, True)
            lines = []
            for reservation_id in profile["reservations"]:
                found = agent.call("get_reservation_details", reservation_id=reservation_id).data
                lines.append(f"{reservation_id}: {trip_words(found)} ({found['status']})")
            agent.say(
                "Here are your reservations: " + "; ".join(lines) + ".", "That's helpful, thanks."
            )

    elif kind == "airports":
        task = "Which airports do you fly to?"

        def play(agent: Agent) -> None:
            airports = agent.call("list_all_airports").data
            agent.say(
                "We serve "
                + ", ".join(f"{name} ({code})" for code, name in airports.items())
                + ".",
                "Great, thank you.",
            )

    elif kind == "allowance":
        reservation = pick_reservation(env, rng, lambda r: r["user_id"] == user_id)
        if reservation is None:
            return None
        task = (
            f"How many bags can I check for free on reservation {reservation['reservation_id']}?"
            + id_phrase(user_id, rng)
        )

        def play(agent: Agent) -> None:
            found = ask_reservation(agent, reservation["reservation_id"], True)
            profile = agent.call("get_user_details", user_id=user_id).data
            each = FREE_BAGS[profile["membership"]][found["cabin"]]
            free = each * len(found["passengers"])
            if len(found["passengers"]) > 1:
                agent.call("calculate", expression=f"{each} * {len(found['passengers'])}")
            agent.say(
                f"As a {profile['membership']} member in {CABIN_WORDS[found['cabin']]}, your "
                f"reservation includes {free} free checked bag(s); you currently have "
                f"{found['total_baggages']}.",
                "Thanks, that's what I needed.",
            )

    else:
        origin, destination = rng.sample(sorted(AIRPORTS), 2)
        date = f"2026-05-{rng.randint(16, 30):02d}"
        typed = origin if rng.random() > 0.1 else origin.lower() + "x"
        task = (
            f"How much is a flight from {origin} to {destination} on {day_words(date)}? "
            "Just looking."
        )

        def play(agent: Agent) -> None:
            found = agent.call(
                "search_direct_flight", origin=typed, destination=destination, date=date
            )
            if not found.ok:
                found = agent.call(
                    "search_direct_flight", origin=origin, destination=destination, date=date
                )
            if found.data:
                cheapest = min(row["prices"]["economy"] for row in found.data)
                agent.say(
                    f"Direct economy fares on {day_words(date)} start at {money(cheapest)}.",
                    "Okay, I'll think about it.",
                )
            else:
                options = agent.call(
                    "search_onestop_flight", origin=origin, destination=destination, date=date
                )
                if options.data:
                    cheapest = min(sum(leg["prices"]["economy"] for leg in o) for o in options.data)
                    agent.say(
                        f"There are no direct flights, but one-stop economy itineraries start "
                        f"at {money(cheapest)}.",
                        "Okay, thanks.",
                    )
                else:
                    agent.say(
                        f"I'm sorry, nothing is available from {origin} to {destination} that day.",
                        "Oh well, thanks.",
                    )

    return Script(f"info_{kind}", task, play)


def compensation_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    def disrupted(r: dict[str, Any]) -> bool:
        return r["status"] == "active" and any(
            env.flights[f["flight_number"]]["dates"][f["date"]]["status"]
            in ("delayed", "cancelled")
            for f in r["flights"]
        )

    reservation = pick_reservation(env, rng, disrupted) if rng.random() < 0.7 else None
    if reservation is None:
        reservation = pick_reservation(
            env, rng, lambda r: r["status"] == "active" and r["flights"][0]["date"] <= TODAY
        )
    if reservation is None:
        return None
    user = env.users[reservation["user_id"]]
    leg = reservation["flights"][0]
    for f in reservation["flights"]:
        if env.flights[f["flight_number"]]["dates"][f["date"]]["status"] in (
            "delayed",
            "cancelled",
        ):
            leg = f
    with_code = rng.random() < 0.6
    task = rng.choice(
        (
            "My flight {n} was delayed and I missed a meeting. I want compensation.",
            "Your airline messed up my flight {n} on {d}. What are you going to do about it?",
            "Flight {n} on {d} was a disaster. I expect some kind of compensation.",
        )
    ).format(n=leg["flight_number"], d=day_words(leg["date"])) + id_phrase(user["user_id"], rng)
    if with_code:
        task += f" The booking is {reservation['reservation_id']}."

    def play(agent: Agent) -> None:
        profile = identify(agent, user, True)
        if with_code:
            found = ask_reservation(agent, reservation["reservation_id"], True)
        else:
            found = find_reservation(agent, profile, reservation["reservation_id"])
        if found is None:
            return
        status = agent.call(
            "get_flight_status", flight_number=leg["flight_number"], date=leg["date"]
        ).data["status"]
        eligible = (
            profile["membership"] != "regular"
            or found["insurance"] == "yes"
            or found["cabin"] == "business"
        )
        if status not in ("delayed", "cancelled"):
            agent.say(
                f"I've checked: flight {leg['flight_number']} on {leg['date']} shows as {status}, "
                "so I'm not able to offer compensation for it.",
                "That's ridiculous. Get me a supervisor.",
            )
            agent.call(
                "transfer_to_human_agents",
                summary=f"User {profile['user_id']} asks for compensation for "
                f"{leg['flight_number']} on {leg['date']} ({status}); none is due.",
            )
            agent.say("I'm transferring you to a human agent now.")
            return
        if not eligible:
            agent.say(
                f"I'm sorry about the {status} flight. As a regular member without insurance in "
                f"{CABIN_WORDS[found['cabin']]}, I can't offer a certificate, but I can help you "
                "rebook.",
                "No, forget it.",
            )
            return
        per_person = 100 if status == "cancelled" else 50
        amount = per_person * len(found["passengers"])
        agent.call("calculate", expression=f"{per_person} * {len(found['passengers'])}")
        agent.say(
            f"I'm sorry about the {status} flight. I can offer a travel certificate of "
            f"{money(amount)}. Would you like it?",
            "Yes, I'll take it.",
        )
        sent = agent.call("send_certificate", user_id=profile["user_id"], amount=amount)
        agent.say(
            f"Done, certificate {sent.data['certificate']['id']} for {money(amount)} is on your "
            "profile and can be used on a future booking.",
            "Thank you.",
        )
        agent.wrap_up()

    return Script("compensation", task, play)


def transfer_script(env: AirlineEnv, rng: random.Random) -> Script | None:
    user = pick_user(env, rng)
    request = rng.choice(
        (
            "I left my laptop on the plane, who can help me find it?",
            "I want to file a complaint about a rude crew member.",
            "I need to book a flight for my dog, she's a service animal.",
            "I want to change the name on the account itself, not on a reservation.",
        )
    )
    task = request + id_phrase(user["user_id"], rng)

    def play(agent: Agent) -> None:
        profile = identify(agent, user, True)
        agent.say(
            "That's something I can't handle myself, so I'll pass you to a colleague who can. "
            "Is that okay?",
            "Yes, please.",
        )
        agent.call(
            "transfer_to_human_agents",
            summary=f"User {profile['user_id']} ({profile['membership']} member): {request}",
        )
        agent.say("You're being transferred to a human agent now. Please hold on.")

    return Script("transfer", task, play)


SCENARIOS: tuple[tuple[Callable[[AirlineEnv, random.Random], Script | None], float], ...] = (
    (cancel_script, 3.5),
    (book_script, 1.5),
    (baggage_script, 1.75),
    (passengers_script, 1.5),
    (change_flight_script, 1),
    (info_script, 8),
    (compensation_script, 1.25),
    (transfer_script, 2.5),
)


def choose_script(env: AirlineEnv, rng: random.Random) -> Script:
    makers = [maker for maker, _ in SCENARIOS]
    weights = [weight for _, weight in SCENARIOS]
    while True:
        script = rng.choices(makers, weights=weights)[0](env, rng)
        if script is not None:
            return script


def capture(out: str | Path = DEFAULT_OUT, seed: int = 0, traces: int = 220) -> list[EpisodeLog]:
    """Record `traces` episodes to `out`; returns what every episode did and got back."""
    recorder = TraceRecorder(out, seed=seed, service="airline-agent", agent="airline")
    logs = []
    try:
        for index in range(traces):
            rng = random.Random(f"airline-capture:{seed}:{index}")
            env = AirlineEnv(seed)
            script = choose_script(env, rng)
            log = EpisodeLog(script.task, script.scenario)
            with recorder.episode(script.task) as episode:
                agent = Agent(episode, env, rng, log)
                script.play(agent)
                agent.sign_off()
            env.close()
            logs.append(log)
    finally:
        recorder.close()
    return logs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traces", type=int, default=220)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logs = capture(args.out, args.seed, args.traces)
    steps = [r for log in logs for r in log.records if r.answered]
    errors = sum(r.is_error for r in steps)
    calls = sum(r.kind == "tool_call" for r in steps)
    print(
        f"{len(logs)} traces, {len(steps)} steps ({calls} tool calls, {len(steps) - calls} "
        f"messages), {errors} errors -> {args.out}"
    )


if __name__ == "__main__":
    main()

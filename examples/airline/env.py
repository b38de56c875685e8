"""A real customer-service airline API over a seeded in-memory database, for capturing traces.

Every tool reads or mutates the database for real, so writes show in later reads; successes answer
JSON and failures answer one `Error: ...` line.
"""

from __future__ import annotations

import ast
import hashlib
import json
import operator
import random
import re
from collections.abc import Callable
from typing import Any

TODAY = "2026-05-15"
NOW = f"{TODAY}T15:00:00"
FIRST_DATE = 1  # flights are scheduled on 2026-05-01 .. 2026-05-31
LAST_DATE = 31
CABINS = ("basic_economy", "economy", "business")
MEMBERSHIPS = ("regular", "silver", "gold")
INSURANCE_PER_PASSENGER = 30
BAG_PRICE = 50
MAX_PASSENGERS = 5
# Free checked bags per passenger, by membership and cabin.
FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 3},
}

AIRPORTS = {
    "ATL": "Atlanta",
    "BOS": "Boston",
    "DEN": "Denver",
    "DFW": "Dallas-Fort Worth",
    "EWR": "Newark",
    "JFK": "New York",
    "LAS": "Las Vegas",
    "LAX": "Los Angeles",
    "MIA": "Miami",
    "MSP": "Minneapolis",
    "ORD": "Chicago",
    "PHX": "Phoenix",
    "SEA": "Seattle",
    "SFO": "San Francisco",
}
FIRST_NAMES = (
    "Mia Liam Olivia Noah Emma Ethan Ava Lucas Sofia Mason Isabella Yusuf Amelia James Harper "
    "Omar Chen Aarav Lei Fatima Mohamed Anya Raj Ivan Yara Daiki Juan Lucia Mei Kwame Sara Ahmed "
    "Chloe Mateo Nadia Priya Evelyn Hiro Zoe Daniel"
).split()
LAST_NAMES = (
    "Li Smith Garcia Kim Patel Nguyen Brown Silva Rossi Khan Johansson Lopez Wang Ahmed Davis "
    "Taylor Moore Sato Hernandez Kovacs Muller Okafor Gonzalez Thomas Wilson Martin Anderson "
    "Jackson Lee Clark"
).split()
STREETS = (
    "Sunset Drive, Maple Avenue, Cedar Street, Hillcrest Road, Lakeview Lane, Oak Street, "
    "Broadway, Elm Street, Pine Court, River Road, Park Avenue, Willow Way"
).split(", ")
CITIES = (
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Miami", "FL", "331"),
    ("Phoenix", "AZ", "850"),
    ("San Francisco", "CA", "941"),
    ("New York", "NY", "100"),
    ("Atlanta", "GA", "303"),
)
CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _date(day: int) -> str:
    return f"2026-05-{day:02d}"


def _clock(minutes: int) -> str:
    day, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{text}+{day}" if day else text


class ToolError(Exception):
    """A failure the API reports to its caller as `Error: <message>`."""


def _schema(
    description: str, properties: dict[str, dict[str, Any]], required: list[str] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_PASSENGER = {
    "type": "object",
    "properties": {"first_name": _STRING, "last_name": _STRING, "dob": _STRING},
}
_FLIGHT_REF = {
    "type": "object",
    "properties": {"flight_number": _STRING, "date": _STRING},
}
_PAYMENT = {
    "type": "object",
    "properties": {"payment_id": _STRING, "amount": {"type": "number"}},
}

TOOLS: dict[str, dict[str, Any]] = {
    "get_user_details": _schema(
        "Get a user's profile, payment methods and reservation ids.", {"user_id": _STRING}
    ),
    "get_reservation_details": _schema(
        "Get a reservation's flights, passengers, payments and status.",
        {"reservation_id": _STRING},
    ),
    "get_flight_status": _schema(
        "Get the status of a flight on a date (YYYY-MM-DD).",
        {"flight_number": _STRING, "date": _STRING},
    ),
    "search_direct_flight": _schema(
        "Search bookable direct flights between two airports on a date (times in US Eastern).",
        {"origin": _STRING, "destination": _STRING, "date": _STRING},
    ),
    "search_onestop_flight": _schema(
        "Search bookable one-stop itineraries between two airports on a date (US Eastern).",
        {"origin": _STRING, "destination": _STRING, "date": _STRING},
    ),
    "list_all_airports": _schema("List airport codes and their cities.", {}),
    "book_reservation": _schema(
        "Book a reservation; payments must add up to the total price.",
        {
            "user_id": _STRING,
            "origin": _STRING,
            "destination": _STRING,
            "flight_type": {"type": "string", "enum": ["one_way", "round_trip"]},
            "cabin": {"type": "string", "enum": list(CABINS)},
            "flights": {"type": "array", "items": _FLIGHT_REF},
            "passengers": {"type": "array", "items": _PASSENGER},
            "payment_methods": {"type": "array", "items": _PAYMENT},
            "total_baggages": _INT,
            "nonfree_baggages": _INT,
            "insurance": {"type": "string", "enum": ["yes", "no"]},
        },
    ),
    "cancel_reservation": _schema(
        "Cancel a reservation and refund its payments.", {"reservation_id": _STRING}
    ),
    "update_reservation_baggages": _schema(
        "Change a reservation's checked bags; extra non-free bags are charged.",
        {
            "reservation_id": _STRING,
            "total_baggages": _INT,
            "nonfree_baggages": _INT,
            "payment_id": _STRING,
        },
    ),
    "update_reservation_flights": _schema(
        "Change a reservation's flights or cabin; the fare difference is charged or refunded.",
        {
            "reservation_id": _STRING,
            "cabin": {"type": "string", "enum": list(CABINS)},
            "flights": {"type": "array", "items": _FLIGHT_REF},
            "payment_id": _STRING,
        },
    ),
    "update_reservation_passengers": _schema(
        "Replace a reservation's passenger details (same number of passengers).",
        {"reservation_id": _STRING, "passengers": {"type": "array", "items": _PASSENGER}},
    ),
    "send_certificate": _schema(
        "Issue a travel certificate to a user as compensation.",
        {"user_id": _STRING, "amount": {"type": "number"}},
    ),
    "calculate": _schema(
        "Evaluate an arithmetic expression (numbers, + - * / and parentheses).",
        {"expression": _STRING},
    ),
    "transfer_to_human_agents": _schema(
        "Hand the conversation over to a human agent with a summary.", {"summary": _STRING}
    ),
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "array": "a list",
    "object": "an object",
}


def _check_arguments(name: str, arguments: dict[str, Any]) -> None:
    schema = TOOLS[name]
    properties: dict[str, dict[str, Any]] = schema["properties"]
    for key in arguments:
        if key not in properties:
            raise ToolError(f"unexpected argument '{key}'")
    for key in schema["required"]:
        if key not in arguments:
            raise ToolError(f"missing argument '{key}'")
    for key, value in arguments.items():
        kind = properties[key]["type"]
        if isinstance(value, bool) or not isinstance(value, _JSON_TYPES[kind]):
            raise ToolError(f"argument '{key}' must be {_TYPE_WORDS[kind]}")
        allowed = properties[key].get("enum")
        if allowed and value not in allowed:
            raise ToolError(f"argument '{key}' must be one of {', '.join(allowed)}")


_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ToolError("division by zero")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ToolError("invalid expression, use numbers, + - * / and parentheses")


def _number(value: float) -> int | float:
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AirlineEnv:
    """The airline's booking system: users, flights and reservations, regenerated from a seed."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.users: dict[str, dict[str, Any]] = {}
        self.flights: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self._issued = 0
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Regenerate the database from the seed, dropping every change made since."""
        rng = random.Random(f"airline-db:{self.seed}")
        self._issued = 0
        self.flights = _make_flights(rng)
        self.users = {}
        self.reservations = {}
        for _ in range(60):
            user = _make_user(rng, self.users)
            self.users[user["user_id"]] = user
        for user in self.users.values():
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                reservation = self._make_reservation(rng, user)
                self.reservations[reservation["reservation_id"]] = reservation
                user["reservations"].append(reservation["reservation_id"])

    def tools(self) -> dict[str, dict[str, Any]]:
        """Tool name -> JSON schema of its arguments."""
        return json.loads(json.dumps(TOOLS))

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run one tool: (JSON result, False) on success, (`Error: ...`, True) on failure."""
        handler = getattr(self, f"_tool_{name}", None) if name in TOOLS else None
        if handler is None:
            return f"Error: unknown tool '{name}'", True
        try:
            _check_arguments(name, arguments)
            return json.dumps(handler(**arguments)), False
        except ToolError as exc:
            return f"Error: {exc}", True

    def close(self) -> None:
        """Release the database."""
        self.users, self.flights, self.reservations = {}, {}, {}

    # --- generation ------------------------------------------------------------------------

    def _make_reservation(self, rng: random.Random, user: dict[str, Any]) -> dict[str, Any]:
        routes = list(self.flights.values())
        first = rng.choice(routes)
        origin, destination = first["origin"], first["destination"]
        back = [f for f in routes if (f["origin"], f["destination"]) == (destination, origin)]
        flight_type = "round_trip" if back and rng.random() < 0.55 else "one_way"
        today = int(TODAY[-2:])
        day = (
            rng.randint(5, today - 1) if rng.random() < 0.35 else rng.randint(today, LAST_DATE - 6)
        )
        legs = [(first, day)]
        if flight_type == "round_trip":
            legs.append((rng.choice(back), day + rng.randint(2, 5)))
        cabin = rng.choices(CABINS, weights=(3, 5, 2))[0]
        saved = user["saved_passengers"]
        passengers = [_person(user)] + saved[: rng.randint(0, len(saved))]
        flights = []
        for flight, leg_day in legs:
            date = _date(leg_day)
            price = flight["dates"][date]["prices"][cabin]
            flights.append(_leg(flight, date, price))
        insurance = "yes" if rng.random() < 0.35 else "no"
        free = FREE_BAGS[user["membership"]][cabin] * len(passengers)
        total_bags = rng.randint(0, free + 1)
        nonfree = max(0, total_bags - free)
        total = sum(f["price"] for f in flights) * len(passengers) + BAG_PRICE * nonfree
        if insurance == "yes":
            total += INSURANCE_PER_PASSENGER * len(passengers)
        cards = [m for m in user["payment_methods"].values() if m["source"] == "credit_card"]
        method = rng.choice(cards or list(user["payment_methods"].values()))
        created = rng.randint(max(1, day - 20), min(day - 1, today))
        hour = rng.randint(6, 14 if created == today else 22)
        created_at = f"{_date(created)}T{hour:02d}:{rng.randint(0, 59):02d}:00"
        reservation_id = _unique_id(rng, self.reservations)
        status = "cancelled" if rng.random() < 0.08 else "active"
        payments = [{"payment_id": method["id"], "amount": total}]
        if status == "cancelled":
            payments.append({"payment_id": method["id"], "amount": -total})
        return {
            "reservation_id": reservation_id,
            "user_id": user["user_id"],
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": flights,
            "passengers": passengers,
            "payment_history": payments,
            "created_at": created_at,
            "total_baggages": total_bags,
            "nonfree_baggages": nonfree,
            "insurance": insurance,
            "status": status,
        }

    def _new_id(self, *parts: Any) -> str:
        """A fresh id derived from the seed, the request and how many ids were issued before."""
        self._issued += 1
        text = json.dumps([self.seed, self._issued, *parts], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    # --- lookups ---------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise ToolError("user not found")
        return user

    def _reservation(self, reservation_id: str) -> dict[str, Any]:
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            raise ToolError("reservation not found")
        return reservation

    def _active(self, reservation_id: str) -> dict[str, Any]:
        reservation = self._reservation(reservation_id)
        if reservation["status"] == "cancelled":
            raise ToolError("reservation is cancelled")
        return reservation

    def _airport(self, code: str) -> str:
        if code not in AIRPORTS:
            raise ToolError(f"unknown airport '{code}'")
        return code

    def _day(self, flight_number: str, date: str) -> dict[str, Any]:
        flight = self.flights.get(flight_number)
        if flight is None:
            raise ToolError(f"flight {flight_number} not found")
        _check_date(date)
        day = flight["dates"].get(date)
        if day is None:
            raise ToolError(f"flight {flight_number} does not operate on {date}")
        return day

    def _bookable(self, flight_number: str, date: str, cabin: str, seats: int) -> dict[str, Any]:
        day = self._day(flight_number, date)
        if day["status"] != "available":
            raise ToolError(f"flight {flight_number} is not available on {date}")
        if day["available_seats"][cabin] < seats:
            raise ToolError(f"not enough seats on flight {flight_number}")
        return day

    def _payment_method(self, user: dict[str, Any], payment_id: str) -> dict[str, Any]:
        method = user["payment_methods"].get(payment_id)
        if method is None:
            raise ToolError("payment method not found")
        return method

    def _search_row(self, flight: dict[str, Any], date: str) -> dict[str, Any]:
        day = flight["dates"][date]
        return {
            "flight_number": flight["flight_number"],
            "origin": flight["origin"],
            "destination": flight["destination"],
            "date": date,
            "departure_time": _clock(flight["departure"]),
            "arrival_time": _clock(flight["departure"] + flight["duration"]),
            "status": day["status"],
            "available_seats": dict(day["available_seats"]),
            "prices": dict(day["prices"]),
        }

    def _departures(self, origin: str, date: str) -> list[dict[str, Any]]:
        return [
            f
            for f in self.flights.values()
            if f["origin"] == origin
            and date in f["dates"]
            and f["dates"][date]["status"] == "available"
        ]

    # --- tools -----------------------------------------------------------------------------

    def _tool_get_user_details(self, user_id: str) -> dict[str, Any]:
        user = self._user(user_id)
        return {**user, "payment_methods": list(user["payment_methods"].values())}

    def _tool_get_reservation_details(self, reservation_id: str) -> dict[str, Any]:
        return self._reservation(reservation_id)

    def _tool_get_flight_status(self, flight_number: str, date: str) -> dict[str, Any]:
        day = self._day(flight_number, date)
        return {"flight_number": flight_number, "date": date, "status": day["status"]}

    def _tool_list_all_airports(self) -> dict[str, str]:
        return dict(AIRPORTS)

    def _tool_search_direct_flight(
        self, origin: str, destination: str, date: str
    ) -> list[dict[str, Any]]:
        self._airport(origin)
        self._airport(destination)
        _check_date(date)
        return [
            self._search_row(f, date)
            for f in self._departures(origin, date)
            if f["destination"] == destination
        ]

    def _tool_search_onestop_flight(
        self, origin: str, destination: str, date: str
    ) -> list[list[dict[str, Any]]]:
        self._airport(origin)
        self._airport(destination)
        _check_date(date)
        found = []
        for first in self._departures(origin, date):
            stop = first["destination"]
            if stop == destination:
                continue
            arrival = first["departure"] + first["duration"]
            second_date = _date(int(date[-2:]) + arrival // (24 * 60))
            for second in self._departures(stop, second_date):
                if second["destination"] != destination:
                    continue
                if second["departure"] < arrival % (24 * 60) + 60:
                    continue
                found.append([self._search_row(first, date), self._search_row(second, second_date)])
        return found

    def _tool_book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: str,
        cabin: str,
        flights: list[dict[str, Any]],
        passengers: list[dict[str, Any]],
        payment_methods: list[dict[str, Any]],
        total_baggages: int,
        nonfree_baggages: int,
        insurance: str,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        self._airport(origin)
        self._airport(destination)
        if not flights:
            raise ToolError("at least one flight is required")
        people = _check_passengers(passengers)
        if len(people) > MAX_PASSENGERS:
            raise ToolError(f"at most {MAX_PASSENGERS} passengers per reservation")
        _check_bags(total_baggages, nonfree_baggages)
        legs = []
        for ref in flights:
            flight_number, date = _flight_ref(ref)
            day = self._bookable(flight_number, date, cabin, len(people))
            legs.append(_leg(self.flights[flight_number], date, day["prices"][cabin]))
        if legs[0]["origin"] != origin:
            raise ToolError(f"the first flight does not depart from {origin}")
        total = sum(leg["price"] for leg in legs) * len(people) + BAG_PRICE * nonfree_baggages
        if insurance == "yes":
            total += INSURANCE_PER_PASSENGER * len(people)
        payments = []
        for payment in payment_methods:
            payment_id, amount = _payment_ref(payment)
            method = self._payment_method(user, payment_id)
            _check_balance(method, amount)
            payments.append({"payment_id": payment_id, "amount": _number(amount)})
        paid = _number(sum(p["amount"] for p in payments))
        if paid != total:
            raise ToolError(f"payment amount does not add up, total price is {total}")
        for leg in legs:
            self.flights[leg["flight_number"]]["dates"][leg["date"]]["available_seats"][cabin] -= (
                len(people)
            )
        for payment in payments:
            _charge(user["payment_methods"][payment["payment_id"]], payment["amount"])
        reservation_id = ""
        while not reservation_id or reservation_id in self.reservations:
            digest = self._new_id("reservation", user_id, flights, passengers)
            reservation_id = "".join(
                ID_CHARS[int(digest[i : i + 2], 16) % 36] for i in range(0, 12, 2)
            )
        reservation = {
            "reservation_id": reservation_id,
            "user_id": user_id,
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": legs,
            "passengers": people,
            "payment_history": payments,
            "created_at": NOW,
            "total_baggages": total_baggages,
            "nonfree_baggages": nonfree_baggages,
            "insurance": insurance,
            "status": "active",
        }
        self.reservations[reservation_id] = reservation
        user["reservations"].append(reservation_id)
        return reservation

    def _tool_cancel_reservation(self, reservation_id: str) -> dict[str, Any]:
        reservation = self._reservation(reservation_id)
        if reservation["status"] == "cancelled":
            raise ToolError("reservation is already cancelled")
        if self._flown(reservation):
            raise ToolError("cannot cancel, part of the trip has already been flown")
        airline_cancelled = any(
            self.flights[leg["flight_number"]]["dates"][leg["date"]]["status"] == "cancelled"
            for leg in reservation["flights"]
        )
        booked_today = reservation["created_at"][:10] == TODAY
        if (
            reservation["cabin"] == "basic_economy"
            and reservation["insurance"] == "no"
            and not (airline_cancelled or booked_today)
        ):
            raise ToolError("basic economy reservations without insurance cannot be cancelled")
        user = self.users[reservation["user_id"]]
        net: dict[str, float] = {}
        for payment in reservation["payment_history"]:
            net[payment["payment_id"]] = net.get(payment["payment_id"], 0) + payment["amount"]
        for payment_id, amount in net.items():
            if amount <= 0:
                continue
            reservation["payment_history"].append(
                {"payment_id": payment_id, "amount": _number(-amount)}
            )
            method = user["payment_methods"].get(payment_id)
            if method is not None:
                _charge(method, -amount)
        self._release(reservation)
        reservation["status"] = "cancelled"
        return reservation

    def _tool_update_reservation_baggages(
        self, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
    ) -> dict[str, Any]:
        reservation = self._active(reservation_id)
        _check_bags(total_baggages, nonfree_baggages)
        if total_baggages < reservation["total_baggages"]:
            raise ToolError("checked bags cannot be removed")
        user = self.users[reservation["user_id"]]
        method = self._payment_method(user, payment_id)
        cost = BAG_PRICE * max(0, nonfree_baggages - reservation["nonfree_baggages"])
        if cost:
            if method["source"] == "certificate":
                raise ToolError("certificates cannot be used for baggage")
            _check_balance(method, cost)
            _charge(method, cost)
            reservation["payment_history"].append({"payment_id": payment_id, "amount": cost})
        reservation["total_baggages"] = total_baggages
        reservation["nonfree_baggages"] = nonfree_baggages
        return reservation

    def _tool_update_reservation_flights(
        self, reservation_id: str, cabin: str, flights: list[dict[str, Any]], payment_id: str
    ) -> dict[str, Any]:
        reservation = self._active(reservation_id)
        if self._flown(reservation):
            raise ToolError("cannot modify, part of the trip has already been flown")
        if not flights:
            raise ToolError("at least one flight is required")
        old = {(leg["flight_number"], leg["date"]): leg for leg in reservation["flights"]}
        refs = [_flight_ref(ref) for ref in flights]
        if reservation["cabin"] == "basic_economy" and set(refs) != set(old):
            raise ToolError("basic economy flights cannot be modified")
        seats = len(reservation["passengers"])
        legs = []
        for flight_number, date in refs:
            kept = old.get((flight_number, date))
            if kept is not None and cabin == reservation["cabin"]:
                legs.append(dict(kept))
                continue
            day = self._bookable(flight_number, date, cabin, seats)
            legs.append(_leg(self.flights[flight_number], date, day["prices"][cabin]))
        user = self.users[reservation["user_id"]]
        method = self._payment_method(user, payment_id)
        difference = (
            sum(leg["price"] for leg in legs) - sum(leg["price"] for leg in old.values())
        ) * seats
        if difference > 0:
            if method["source"] == "certificate":
                raise ToolError("certificates cannot be used to change flights")
            _check_balance(method, difference)
        self._release(reservation)
        for leg in legs:
            self.flights[leg["flight_number"]]["dates"][leg["date"]]["available_seats"][cabin] -= (
                seats
            )
        if difference:
            _charge(method, difference)
            reservation["payment_history"].append(
                {"payment_id": payment_id, "amount": _number(difference)}
            )
        reservation["flights"] = legs
        reservation["cabin"] = cabin
        return reservation

    def _tool_update_reservation_passengers(
        self, reservation_id: str, passengers: list[dict[str, Any]]
    ) -> dict[str, Any]:
        reservation = self._active(reservation_id)
        people = _check_passengers(passengers)
        if len(people) != len(reservation["passengers"]):
            raise ToolError("number of passengers does not match")
        reservation["passengers"] = people
        return reservation

    def _tool_send_certificate(self, user_id: str, amount: float) -> dict[str, Any]:
        user = self._user(user_id)
        if amount <= 0:
            raise ToolError("amount must be positive")
        if amount > 500:
            raise ToolError("certificates are limited to 500")
        digest = self._new_id("certificate", user_id, amount)
        payment_id = f"certificate_{int(digest[:12], 16) % 10_000_000:07d}"
        certificate = {"id": payment_id, "source": "certificate", "amount": _number(amount)}
        user["payment_methods"][payment_id] = certificate
        return {"user_id": user_id, "certificate": certificate}

    def _tool_calculate(self, expression: str) -> dict[str, Any]:
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError:
            raise ToolError("invalid expression, use numbers, + - * / and parentheses") from None
        return {"expression": expression, "result": _number(_evaluate(tree))}

    def _tool_transfer_to_human_agents(self, summary: str) -> dict[str, Any]:
        if not summary.strip():
            raise ToolError("a summary is required")
        return {"status": "transferred", "message": "A human agent will join shortly."}

    # --- mutations -------------------------------------------------------------------------

    def _flown(self, reservation: dict[str, Any]) -> bool:
        return any(
            self.flights[leg["flight_number"]]["dates"][leg["date"]]["status"]
            in ("landed", "flying")
            for leg in reservation["flights"]
        )

    def _release(self, reservation: dict[str, Any]) -> None:
        """Give a reservation's seats back on flights that have not left yet."""
        for leg in reservation["flights"]:
            day = self.flights[leg["flight_number"]]["dates"][leg["date"]]
            if day["status"] == "available":
                day["available_seats"][reservation["cabin"]] += len(reservation["passengers"])


# --- validation helpers ---------------------------------------------------------------------


def _check_date(date: str) -> None:
    if not _DATE.match(date):
        raise ToolError(f"invalid date '{date}', expected YYYY-MM-DD")


def _check_passengers(passengers: list[Any]) -> list[dict[str, str]]:
    if not passengers:
        raise ToolError("at least one passenger is required")
    people = []
    for person in passengers:
        if not isinstance(person, dict) or set(person) != {"first_name", "last_name", "dob"}:
            raise ToolError("each passenger needs first_name, last_name and dob")
        if not all(isinstance(v, str) and v.strip() for v in person.values()):
            raise ToolError("each passenger needs first_name, last_name and dob")
        if not _DATE.match(person["dob"]):
            raise ToolError(f"invalid date of birth '{person['dob']}', expected YYYY-MM-DD")
        people.append(
            {
                "first_name": person["first_name"],
                "last_name": person["last_name"],
                "dob": person["dob"],
            }
        )
    return people


def _check_bags(total: int, nonfree: int) -> None:
    if total < 0 or nonfree < 0:
        raise ToolError("baggage counts cannot be negative")
    if nonfree > total:
        raise ToolError("nonfree baggages cannot exceed total baggages")


def _flight_ref(ref: Any) -> tuple[str, str]:
    if (
        not isinstance(ref, dict)
        or not isinstance(ref.get("flight_number"), str)
        or not isinstance(ref.get("date"), str)
    ):
        raise ToolError("each flight needs flight_number and date")
    return ref["flight_number"], ref["date"]


def _payment_ref(ref: Any) -> tuple[str, float]:
    if not isinstance(ref, dict) or not isinstance(ref.get("payment_id"), str):
        raise ToolError("each payment needs payment_id and amount")
    amount = ref.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        raise ToolError("each payment needs payment_id and a positive amount")
    return ref["payment_id"], float(amount)


def _check_balance(method: dict[str, Any], amount: float) -> None:
    if method["source"] == "gift_card" and method["amount"] < amount:
        raise ToolError("gift card balance is not enough")
    if method["source"] == "certificate" and method["amount"] < amount:
        raise ToolError("certificate balance is not enough")


def _charge(method: dict[str, Any], amount: float) -> None:
    """Take `amount` from a balance (a negative amount refunds it); cards have no balance."""
    if method["source"] in ("gift_card", "certificate"):
        method["amount"] = _number(method["amount"] - amount)


# --- database generation --------------------------------------------------------------------


def _person(user: dict[str, Any]) -> dict[str, str]:
    return {
        "first_name": user["name"]["first_name"],
        "last_name": user["name"]["last_name"],
        "dob": user["dob"],
    }


def _leg(flight: dict[str, Any], date: str, price: int) -> dict[str, Any]:
    return {
        "flight_number": flight["flight_number"],
        "origin": flight["origin"],
        "destination": flight["destination"],
        "date": date,
        "price": price,
    }


def _unique_id(rng: random.Random, taken: dict[str, Any]) -> str:
    while True:
        candidate = "".join(rng.choice(ID_CHARS) for _ in range(6))
        if candidate not in taken:
            return candidate


def _dob(rng: random.Random) -> str:
    return f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _make_flights(rng: random.Random) -> dict[str, dict[str, Any]]:
    """A route network of 14 airports with daily flights on every date of May 2026."""
    codes = sorted(AIRPORTS)
    pairs: set[tuple[str, str]] = set()
    for i, code in enumerate(codes):  # a ring keeps every airport reachable
        a, b = sorted((code, codes[(i + 1) % len(codes)]))
        pairs.add((a, b))
    while len(pairs) < 30:
        a, b = sorted(rng.sample(codes, 2))
        pairs.add((a, b))
    flights: dict[str, dict[str, Any]] = {}
    numbers = rng.sample(range(1, 1000), 200)
    for a, b in sorted(pairs):
        duration = rng.randint(6, 36) * 10
        base = {cabin: rng.randint(*span) for cabin, span in zip(CABINS, _PRICE_SPANS, strict=True)}
        for origin, destination in ((a, b), (b, a)):
            for _ in range(rng.choice((1, 1, 1, 2))):
                number = f"HAT{numbers.pop():03d}"
                departure = rng.randint(10, 40) * 30
                flights[number] = {
                    "flight_number": number,
                    "origin": origin,
                    "destination": destination,
                    "departure": departure,
                    "duration": duration,
                    "dates": {
                        _date(day): _flight_day(rng, day, base)
                        for day in range(FIRST_DATE, LAST_DATE + 1)
                    },
                }
    return dict(sorted(flights.items()))


_PRICE_SPANS = ((50, 100), (100, 200), (250, 500))


def _flight_day(rng: random.Random, day: int, base: dict[str, int]) -> dict[str, Any]:
    today = int(TODAY[-2:])
    if day < today:
        status = "landed"
    elif day == today:
        status = rng.choice(("landed", "flying", "delayed", "on time"))
    else:
        status = "cancelled" if rng.random() < 0.03 else "available"
    seats = {
        "basic_economy": rng.choice((0, 1, 2)) if rng.random() < 0.15 else rng.randint(3, 20),
        "economy": rng.choice((0, 1)) if rng.random() < 0.1 else rng.randint(2, 20),
        "business": rng.randint(0, 12),
    }
    prices = {cabin: base[cabin] + rng.randint(-20, 40) for cabin in CABINS}
    return {"status": status, "available_seats": seats, "prices": prices}


def _make_user(rng: random.Random, taken: dict[str, Any]) -> dict[str, Any]:
    while True:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first.lower()}_{last.lower()}_{rng.randint(1000, 9999)}"
        if user_id not in taken:
            break
    city, state, zip_prefix = rng.choice(CITIES)
    methods: dict[str, dict[str, Any]] = {}
    kinds = ["credit_card"] + rng.sample(
        ["credit_card", "gift_card", "certificate"], rng.randint(0, 2)
    )
    for kind in kinds:
        payment_id = f"{kind}_{rng.randint(1_000_000, 9_999_999)}"
        if kind == "credit_card":
            methods[payment_id] = {
                "id": payment_id,
                "source": kind,
                "brand": rng.choice(CARD_BRANDS),
                "last_four": f"{rng.randint(0, 9999):04d}",
            }
        else:
            amount = rng.randint(2, 60) * 10 if kind == "gift_card" else rng.choice((100, 150, 250))
            methods[payment_id] = {"id": payment_id, "source": kind, "amount": amount}
    saved = [
        {"first_name": rng.choice(FIRST_NAMES), "last_name": last, "dob": _dob(rng)}
        for _ in range(rng.choice((0, 0, 1, 1, 2)))
    ]
    street = f"{rng.randint(10, 999)} {rng.choice(STREETS)}"
    if rng.random() < 0.4:
        street += f", Apt {rng.randint(1, 40)}"
    return {
        "user_id": user_id,
        "name": {"first_name": first, "last_name": last},
        "address": {
            "street": street,
            "city": city,
            "country": "USA",
            "state": state,
            "zip": f"{zip_prefix}{rng.randint(10, 99)}",
        },
        "dob": _dob(rng),
        "payment_methods": methods,
        "saved_passengers": saved,
        "membership": rng.choices(MEMBERSHIPS, weights=(5, 3, 2))[0],
        "reservations": [],
    }


def make_real_env(seed: int = 0) -> Any:
    """The real airline behind wmh's `Env` protocol, on the database the traces were captured on:
    each episode starts from a fresh copy. (Messages to the user get no answer: no user here.)"""
    from wmh.env import ToolEnv

    return ToolEnv(AirlineEnv(seed=seed), lambda env, task: env.reset(), name="airline")


# What each kind of request needs done: the first matching pattern of the task names the write
# tool whose error-free answer completes it. Other tasks (questions) are complete when the agent
# answered the user after error-free lookups.
_INTENTS = (
    (re.compile(r"\bcancel", re.I), "cancel_reservation"),
    (re.compile(r"\bbags?\b", re.I), "update_reservation_baggages"),
    (re.compile(r"date of birth|put .+ on it|passenger", re.I), "update_reservation_passengers"),
    (re.compile(r"\b(change|move)\b.*\bflight", re.I), "update_reservation_flights"),
    (re.compile(r"\bbook\b|\bneed a .*flight\b|one-way flight", re.I), "book_reservation"),
    (re.compile(r"complaint|lost|left my|account itself", re.I), "transfer_to_human_agents"),
)
_QUESTION = re.compile(r"^(how|what|which|can you tell|i forgot)", re.I)


class RequestCompleted:
    """The airline's programmatic success check (`reward=success`): the task's request is done
    when the tool it needs answered without an error (a question: when the agent answered the
    user and no lookup failed); a step earns its reward when the environment did not answer it
    with an error. It reads the transcript only, so it judges a simulated episode and a real
    one alike."""

    name = "success"

    def judge(self, task: str, turns: Any) -> Any:
        from wmh.core.reward import RewardVerdict

        steps = [0.0 if t.observation.is_error else 1.0 for t in turns]
        needed = "" if _QUESTION.match(task.strip()) else _needed_tool(task)
        if needed:
            done = any(t.action.name == needed and not t.observation.is_error for t in turns)
            why = f"{needed} {'succeeded' if done else 'was not done without an error'}"
        else:
            answered = any(t.action.kind.value == "message" for t in turns)
            done = answered and all(steps)
            why = "answered the question" if done else "no error-free answer to the question"
        reward = 1.0 if done else 0.5 * (sum(steps) / len(steps) if steps else 0.0)
        return RewardVerdict(reward, steps, why, done)


def _needed_tool(task: str) -> str:
    return next((tool for pattern, tool in _INTENTS if pattern.search(task)), "")


def make_success_check() -> RequestCompleted:
    return RequestCompleted()

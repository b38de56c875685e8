"""Synthetic OTLP corpora of a small customer-records API, for benchmarks and tests.

Observations are a deterministic function of the arguments and of earlier calls in the trace
(updates show in later reads), so held-out steps are predictable the way real ones are.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CITIES = ["Paris", "Lima", "Oslo", "Kyoto", "Austin", "Lagos", "Perth", "Quito"]
TASKS = [
    "Move customer {u} to {city} and confirm the new address.",
    "Find the open orders of customer {u}.",
    "Check the status of order {o} for customer {u}.",
    "Cancel order {o} if it has not shipped.",
]


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


class RecordsAPI:
    """The simulated system: users with cities and orders with statuses."""

    def __init__(self, rng: random.Random, users: int) -> None:
        self.users = users
        self.city = {u: CITIES[(u * 7) % len(CITIES)] for u in range(1, users + 1)}
        self.status: dict[int, str] = {}
        self.rng = rng

    def order_status(self, order: int) -> str:
        return self.status.get(order, ["pending", "shipped", "delivered"][order % 3])

    def call(self, tool: str, args: dict[str, Any]) -> tuple[str, bool]:
        if tool == "get_user":
            u = args["user_id"]
            if not 1 <= u <= self.users:
                return f"Error: user {u} not found", True
            return json.dumps({"user_id": u, "name": f"user{u}", "city": self.city[u]}), False
        if tool == "update_address":
            u = args["user_id"]
            if not 1 <= u <= self.users:
                return f"Error: user {u} not found", True
            self.city[u] = args["city"]
            return json.dumps({"user_id": u, "city": args["city"], "updated": True}), False
        if tool == "list_orders":
            u = args["user_id"]
            orders = [u * 10 + k for k in range(1 + u % 3)]
            return json.dumps(
                [{"order_id": o, "status": self.order_status(o)} for o in orders]
            ), False
        if tool == "get_order":
            o = args["order_id"]
            return json.dumps(
                {
                    "order_id": o,
                    "user_id": o // 10,
                    "status": self.order_status(o),
                    "total": round((o % 97) * 1.25, 2),
                }
            ), False
        if tool == "cancel_order":
            o = args["order_id"]
            if self.order_status(o) != "pending":
                return f"Error: order {o} cannot be cancelled (status {self.order_status(o)})", True
            self.status[o] = "cancelled"
            return json.dumps({"order_id": o, "status": "cancelled"}), False
        return f"Error: unknown tool '{tool}'", True


def _plan(
    rng: random.Random, users: int, steps: int
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    u = rng.randint(1, users + users // 20)  # a few ids that do not exist
    o = u * 10 + rng.randint(0, 2)
    city = rng.choice(CITIES)
    task = rng.choice(TASKS).format(u=u, o=o, city=city)
    menu: list[tuple[str, dict[str, Any]]] = [
        ("get_user", {"user_id": u}),
        ("update_address", {"user_id": u, "city": city}),
        ("get_user", {"user_id": u}),
        ("list_orders", {"user_id": u}),
        ("get_order", {"order_id": o}),
        ("cancel_order", {"order_id": o}),
        ("get_order", {"order_id": o}),
    ]
    calls = [menu[i % len(menu)] for i in range(rng.randint(0, 3), rng.randint(0, 3) + steps)]
    if rng.random() < 0.03:
        calls.insert(rng.randint(0, len(calls)), ("get_usr", {"user_id": u}))  # a typo'd tool
    return task, calls[:steps]


def generate_spans(
    traces: int, steps_per_trace: int = 10, seed: int = 0, users: int = 2000
) -> Iterator[dict[str, Any]]:
    """Yield OTLP JSON span objects: an invoke_agent root, a chat span, execute_tool spans."""
    rng = random.Random(seed)
    clock = 1_700_000_000_000_000_000
    for t in range(traces):
        api = RecordsAPI(rng, users)
        trace_id = f"{seed:08x}{t:024x}"
        root = f"{t:08x}00000000"
        task, calls = _plan(rng, users, steps_per_trace)
        yield {
            "traceId": trace_id,
            "spanId": root,
            "name": "invoke_agent support",
            "startTimeUnixNano": str(clock),
            "endTimeUnixNano": str(clock + 10**9),
            "attributes": [_attr("gen_ai.operation.name", "invoke_agent")],
        }
        messages = [{"role": "user", "parts": [{"type": "text", "content": task}]}]
        yield {
            "traceId": trace_id,
            "spanId": f"{t:08x}00000001",
            "parentSpanId": root,
            "name": "chat model",
            "startTimeUnixNano": str(clock + 1),
            "endTimeUnixNano": str(clock + 2),
            "attributes": [
                _attr("gen_ai.operation.name", "chat"),
                _attr("gen_ai.input.messages", json.dumps(messages)),
            ],
        }
        for i, (tool, args) in enumerate(calls):
            result, is_error = api.call(tool, args)
            span: dict[str, Any] = {
                "traceId": trace_id,
                "spanId": f"{t:08x}{i + 2:08x}",
                "parentSpanId": root,
                "name": f"execute_tool {tool}",
                "startTimeUnixNano": str(clock + 10 * (i + 1)),
                "endTimeUnixNano": str(clock + 10 * (i + 1) + 5),
                "attributes": [
                    _attr("gen_ai.operation.name", "execute_tool"),
                    _attr("gen_ai.tool.name", tool),
                    _attr("gen_ai.tool.call.id", f"call_{t}_{i}"),
                    _attr("gen_ai.tool.call.arguments", json.dumps(args)),
                    _attr("gen_ai.tool.call.result", result),
                ],
            }
            if is_error:
                span["status"] = {"code": 2, "message": result}
            yield span
        clock += 10**9


def write_corpus(path: str | Path, traces: int, steps_per_trace: int = 10, seed: int = 0) -> Path:
    """Write a JSONL-of-spans corpus; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for span in generate_spans(traces, steps_per_trace, seed):
            out.write(json.dumps(span, separators=(",", ":")) + "\n")
    return path

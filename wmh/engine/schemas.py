"""Tool schemas inferred from the recorded calls: names and argument JSON schemas, for agents
that need to be told what they may call (MCP, LLM tool calling, `GET /world_models/{name}`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from wmh.core.types import ActionKind, Step

EXAMPLES = 3


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def infer_tool_schemas(steps: Iterable[Step]) -> dict[str, dict[str, Any]]:
    """Per tool: a description and an `inputSchema` (JSON Schema of its arguments): each argument
    seen, its types, a few recorded values, and as required the ones every call passed."""
    calls: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    examples: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for step in steps:
        action = step.action
        if action.kind is not ActionKind.TOOL_CALL:
            continue
        calls[action.name] += 1
        errors[action.name] += step.observation.is_error
        for key, value in action.arguments.items():
            seen[action.name][key] += 1
            kind = json_type(value)
            types[action.name][key].add(kind)
            known = examples[action.name][key]
            if len(known) < EXAMPLES and value not in known and kind != "object":
                known.append(value)
    schemas: dict[str, dict[str, Any]] = {}
    for tool in sorted(calls):
        properties: dict[str, Any] = {}
        for key in sorted(seen[tool]):
            kinds = sorted(types[tool][key])
            spec: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
            if examples[tool][key]:
                spec["examples"] = examples[tool][key]
            properties[key] = spec
        required = sorted(k for k, n in seen[tool].items() if n == calls[tool])
        schemas[tool] = {
            "description": (
                f"{tool}: recorded {calls[tool]} times"
                + (f", {errors[tool]} answered with an error" if errors[tool] else "")
            ),
            "inputSchema": {"type": "object", "properties": properties, "required": required},
        }
    return schemas

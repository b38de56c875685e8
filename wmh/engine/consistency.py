"""Keep predictions consistent with what the session has already shown.

Records in JSON observations carry identities (`id`, `user_id`, `order_id`...). When a session has
seen a record (a read, or the answer to a write such as `update_address`), a later predicted record
with the same identity takes the session's latest values for the fields both have, so a replayed
`get_user` after an address change shows the new address.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from wmh.core.types import Turn
from wmh.engine.adapt import dump_like

Record = tuple[tuple[tuple[str, str], ...], dict[str, Any]]  # (identity, fields)


def _is_identity(key: str) -> bool:
    lower = key.lower()
    return lower == "id" or lower.endswith("_id") or key.endswith("Id")


def _identity(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (k, str(v))
            for k, v in record.items()
            if _is_identity(k) and isinstance(v, str | int) and not isinstance(v, bool)
        )
    )


def _records(value: Any, out: list[Record]) -> None:
    if isinstance(value, dict):
        identity = _identity(value)
        if identity:
            fields = {k: v for k, v in value.items() if not _is_identity(k)}
            if fields:
                out.append((identity, fields))
        for item in value.values():
            if isinstance(item, dict | list):
                _records(item, out)
    elif isinstance(value, list):
        for item in value:
            _records(item, out)


@lru_cache(maxsize=65536)
def records_in(content: str) -> tuple[Record, ...]:
    """Identified records in a JSON text (none for text that is not a JSON object or array)."""
    stripped = content.strip()
    if stripped[:1] not in ("{", "["):
        return ()
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError:
        return ()
    found: list[Record] = []
    _records(parsed, found)
    return tuple(found)


@lru_cache(maxsize=65536)
def _argument_records(action_key: str, name_length: int) -> tuple[Record, ...]:
    """Records in a tool call's arguments, from its key (`tool:NAME:{canonical json}`)."""
    return records_in(action_key[len("tool:") + name_length + 1 :])


def session_records(history: Sequence[Turn]) -> list[Record]:
    """Records the session has shown, oldest first (arguments of writes, then their answers)."""
    found: list[Record] = []
    for turn in history:
        if turn.observation.is_error:
            continue
        if turn.action.arguments:
            found.extend(_argument_records(turn.action.key(), len(turn.action.name)))
        found.extend(records_in(turn.observation.content))
    return found


def _matches(identity: tuple[tuple[str, str], ...], target: dict[str, Any]) -> bool:
    target_identity = dict(_identity(target))
    shared = [k for k, _ in identity if k in target_identity]
    return bool(shared) and all(target_identity[k] == v for k, v in identity if k in shared)


def _overlay(value: Any, records: Sequence[Record], counter: list[int]) -> Any:
    if isinstance(value, list):
        return [_overlay(item, records, counter) for item in value]
    if not isinstance(value, dict):
        return value
    updated = {k: _overlay(v, records, counter) for k, v in value.items()}
    if _identity(updated):
        for identity, fields in records:
            if not _matches(identity, updated):
                continue
            for key, new in fields.items():
                if key in updated and updated[key] != new and type(updated[key]) is type(new):
                    updated[key] = new
                    counter[0] += 1
    return updated


def apply_session_state(
    content: str, history: Sequence[Turn], arguments: dict[str, Any] | None = None
) -> tuple[str, int]:
    """The content with records updated from the session and, last and strongest, the current
    action's own arguments; returns (text, fields changed)."""
    if not history or not records_in(content):
        return content, 0
    records = session_records(history)
    if arguments:
        _records(arguments, records)
    if not records:
        return content, 0
    stripped = content.strip()
    counter = [0]
    updated = _overlay(json.loads(stripped), records, counter)
    if not counter[0]:
        return content, 0
    return dump_like(stripped, updated), counter[0]

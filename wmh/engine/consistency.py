"""Keep predictions consistent with what the session has already shown.

A JSON observation (or each item of a top-level list) is a record whose identity is its first
id-like key (`id`, `user_id`, `reservation_id`...). When a session has seen a record (a read, or
the answer to a write such as `update_address`), a later predicted record with the same identity
takes the session's latest values for the fields both have, so a replayed `get_user` after an
address change shows the new address.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wmh.core.memo import text_cache
from wmh.core.types import Turn
from wmh.engine.adapt import dump_like

Record = tuple[tuple[str, str], dict[str, Any]]  # ((primary key, value), other fields)


def _is_identity(key: str) -> bool:
    lower = key.lower()
    return lower == "id" or lower.endswith("_id") or key.endswith("Id")


def _primary(record: dict[str, Any]) -> tuple[str, str] | None:
    """A record's identity: its first id-like key (`reservation_id` in a reservation whose
    `user_id` comes later). Other id-like keys are ordinary fields (foreign keys)."""
    for key, value in record.items():
        if _is_identity(key):
            if isinstance(value, str | int) and not isinstance(value, bool):
                return key, str(value)
            return None
    return None


def _top_level(value: Any) -> list[dict[str, Any]]:
    """The objects a JSON value is about: itself, or the items of a top-level list.

    Nested entries (a payment inside a reservation) are left alone: their id-like keys are
    usually references, not identities.
    """
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _records(value: Any, out: list[Record]) -> None:
    for item in _top_level(value):
        primary = _primary(item)
        if primary is None:
            continue
        fields = {k: v for k, v in item.items() if k != primary[0]}
        if fields:
            out.append((primary, fields))


@text_cache(entries=65536, chars=4_000_000)
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


@text_cache(entries=65536, chars=4_000_000)
def _argument_records(action_key: str, name_length: int) -> tuple[Record, ...]:
    """Records in a tool call's arguments, from its key (`tool:NAME:{canonical json}`)."""
    return records_in(action_key[len("tool:") + name_length + 1 :])


def turn_records(turn: Turn) -> tuple[Record, ...]:
    """Records one turn showed (arguments of a write, then its answer); none for an error."""
    if turn.observation.is_error:
        return ()
    found: tuple[Record, ...] = ()
    if turn.action.arguments:
        found = _argument_records(turn.action.key(), len(turn.action.name))
    return found + records_in(turn.observation.content)


def identified_objects(content: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """The identified records of a JSON text as they are (typed values, every field)."""
    stripped = content.strip()
    if stripped[:1] not in ("{", "["):
        return []
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError:
        return []
    found = []
    for item in _top_level(parsed):
        primary = _primary(item)
        if primary is not None:
            found.append((primary, item))
    return found


def seed_records(structured: dict[str, Any]) -> list[Record]:
    """Records a session starts with: every identified object in its seed state's values (a
    record, a list of records, or a mapping of them)."""
    found: list[Record] = []
    for value in structured.values():
        items = value.values() if isinstance(value, dict) and not _primary(value) else [value]
        for item in items:
            _records(item, found)
    return found


def session_records(history: Sequence[Turn]) -> list[Record]:
    """Records the session has shown, oldest first (arguments of writes, then their answers)."""
    return [record for turn in history for record in turn_records(turn)]


def _overlay_one(target: dict[str, Any], records: Sequence[Record], counter: list[int]) -> None:
    primary = _primary(target)
    if primary is None:
        return
    for identity, fields in records:
        if identity != primary:
            continue
        for key, new in fields.items():
            if key in target and target[key] != new and type(target[key]) is type(new):
                target[key] = new
                counter[0] += 1


def apply_session_state(
    content: str,
    history: Sequence[Turn],
    arguments: dict[str, Any] | None = None,
    shown: Sequence[Record] | None = None,
) -> tuple[str, int]:
    """The content with records updated from the session and, last and strongest, the current
    action's own arguments; returns (text, fields changed). `shown` is `session_records(history)`
    when the caller keeps it between steps."""
    if (not history and not shown) or not records_in(content):
        return content, 0
    records = list(session_records(history) if shown is None else shown)
    if arguments:
        _records(arguments, records)
    if not records:
        return content, 0
    stripped = content.strip()
    counter = [0]
    updated = json.loads(stripped)
    for target in _top_level(updated):
        _overlay_one(target, records, counter)
    if not counter[0]:
        return content, 0
    return dump_like(stripped, updated), counter[0]

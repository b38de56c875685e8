"""The training steps of a model as a table: raw JSON rows parsed on demand, plus lookup columns.

Loading keeps rows as bytes and parses a step only when a prediction needs it, so a model of
100k steps loads in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property, lru_cache, partial
from pathlib import Path

import numpy as np
import orjson

from wmh.core.stored import step_json
from wmh.core.types import Step
from wmh.errors import StoreError
from wmh.retrieval.text import MESSAGE_ROUTE, route_of

# Rows of a loaded table kept parsed, the most recently used: a server answering from many rows
# of a large corpus held every row it had ever parsed (at about three times its line's size),
# and a full parse, as tool schemas make, held them all.
PARSED_KEPT = 4096
ALIKE_ROWS = 1024  # recordings of one call compared for `answers_alike` at most
ALIKE_KEPT = 1 << 17  # calls whose `answers_alike` is kept


class StepTable:
    """Route-sorted steps with their trace ids, routes and exact-replay keys.

    `exact` maps each key to its rows in ascending order, keys in the order of their first row
    (as built, and as saved and loaded): lookups take the first best row from it."""

    def __init__(
        self,
        rows: Sequence[bytes],
        trace_ids: Sequence[str],
        routes: Sequence[str],
        exact: dict[str, list[int]],
    ) -> None:
        self._rows = list(rows)
        self.trace_ids = list(trace_ids)
        self.routes = list(routes)
        self.exact = exact
        # Steps held by a caller that has them all (a build's table); the others are parsed
        # from their lines, the last `PARSED_KEPT` kept. (Over the lines, not this table: a
        # cache holding its owner would keep the table alive until the cyclic collector ran.)
        self._parsed: dict[int, Step] = {}
        self._parse = lru_cache(maxsize=PARSED_KEPT)(partial(_parse_row, self._rows))
        # Per row, its observation's length in characters (None: a model saved without it).
        self.observation_chars: np.ndarray | None = None
        self._alike: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.trace_ids)

    @cached_property
    def trace_codes(self) -> tuple[np.ndarray, dict[str, int]]:
        """A number per trace, per row, and which number each trace id has (rows are kept or
        left out of a search by trace in one vectorised comparison)."""
        code_of: dict[str, int] = {}
        codes = np.fromiter(
            (code_of.setdefault(t, len(code_of)) for t in self.trace_ids), np.int32, len(self)
        )
        return codes, code_of

    def call_groups(self) -> np.ndarray:
        """Per row, a number shared by the rows of the very same call (its exact-replay key)."""
        groups = np.empty(len(self), dtype=np.int64)
        for number, rows in enumerate(self.exact.values()):
            groups[rows] = number
        return groups

    def tool_names(self) -> set[str]:
        return {route for route in set(self.routes) if route != MESSAGE_ROUTE}

    def observation_of(self, row: int) -> tuple[str, bool]:
        """(content, is_error) of a row without building the whole Step (fast scans; a loaded
        table's row is decoded from its line, whether or not it is kept parsed)."""
        cached = self._parsed.get(row)
        if cached is not None:
            return cached.observation.content, cached.observation.is_error
        observation = orjson.loads(self._rows[row])["observation"]
        return observation.get("content", ""), bool(observation.get("is_error", False))

    def answers_alike(self, key: str) -> bool:
        """Whether every recording of a call (its exact-replay key) answered alike: the same
        observation, but for the call id its span carried. Then whichever answers, the answer
        is the same, and no context need choose among them (an exact lookup compared each one's
        task and history: the costliest part of a replayed step). Found once per call; a call
        recorded more than `ALIKE_ROWS` times is not compared (False)."""
        alike = self._alike.get(key)
        if alike is None:
            rows = self.exact.get(key, [])
            if len(rows) > ALIKE_ROWS:
                alike = False
            else:
                first = self._answer(rows[0]) if rows else None
                alike = all(self._answer(row) == first for row in rows[1:])
            if len(self._alike) >= ALIKE_KEPT:
                self._alike.clear()
            self._alike[key] = alike
        return alike

    def _answer(self, row: int) -> tuple[object, ...]:
        """A row's observation as compared by `answers_alike`."""
        held = self._parsed.get(row)
        if held is not None:
            observation = held.observation.model_dump(mode="json")
        else:
            observation = orjson.loads(self._rows[row])["observation"]
        metadata = dict(observation.get("metadata") or {})
        metadata.pop("tool_call_id", None)
        return (
            observation.get("content", ""),
            bool(observation.get("is_error", False)),
            observation.get("reward"),
            orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS),
        )

    def longest_observation(self, rows: np.ndarray) -> str:
        """The longest observation content (in characters) of these rows; "" for none. Read
        from the table's lengths column (one row parsed, not every row: at 100k steps a tool's
        first LLM call sized its answer in 30-70 ms), or, for a model saved without it, by
        parsing every row."""
        if not len(rows):
            return ""
        if self.observation_chars is not None:
            return self.observation_of(int(rows[np.argmax(self.observation_chars[rows])]))[0]
        return max((self.observation_of(row)[0] for row in rows.tolist()), key=len)

    def step(self, row: int) -> Step:
        held = self._parsed.get(row)
        return held if held is not None else self._parse(row)

    def steps(self, rows: Iterable[int]) -> Iterator[Step]:
        """The steps of these rows, for a pass over many of them: parsed without being kept, so
        a full pass (tool schemas, a baseline's index) neither holds the table nor pushes out
        the rows the steps are answering from."""
        for row in rows:
            held = self._parsed.get(row)
            yield held if held is not None else _parse_row(self._rows, row)

    @classmethod
    def from_steps(cls, steps: Sequence[Step]) -> StepTable:
        """The table of these steps, held parsed (`from_columns`)."""
        table, _ = cls.from_columns(
            [],
            [s.trace_id for s in steps],
            [route_of(s.action) for s in steps],
            [s.action.key() for s in steps],
            [len(s.observation.content) for s in steps],
            steps,
        )
        return table

    @classmethod
    def from_columns(
        cls,
        rows: Sequence[bytes],
        trace_ids: Sequence[str],
        routes: Sequence[str],
        keys: Sequence[str],
        chars: Sequence[int],
        parsed: Sequence[Step] | None = None,
    ) -> tuple[StepTable, list[int]]:
        """The table of steps given by their JSON lines and columns, sorted by route (stable)
        so each route's rows are contiguous, and which step each row holds. With `parsed`, the
        steps as objects (a caller that holds them): rows read them instead of parsing lines,
        and the lines (if none are given) are written from them when the table is saved."""
        order = sorted(range(len(routes)), key=routes.__getitem__)
        exact: dict[str, list[int]] = {}
        for row, i in enumerate(order):
            exact.setdefault(keys[i], []).append(row)
        table = cls(
            [rows[i] for i in order] if rows else [],
            [trace_ids[i] for i in order],
            [routes[i] for i in order],
            exact,
        )
        table.observation_chars = np.fromiter(
            (chars[i] for i in order), dtype=np.int64, count=len(order)
        )
        if parsed is not None:
            table._parsed = {row: parsed[i] for row, i in enumerate(order)}
        return table, order

    def save(self, steps_file: Path, columns_file: Path) -> None:
        """Rows as JSON lines, and the columns."""
        steps_file.parent.mkdir(parents=True, exist_ok=True)
        columns_file.parent.mkdir(parents=True, exist_ok=True)
        with steps_file.open("wb") as out:
            for number in range(len(self)):
                line = self._rows[number] if self._rows else step_json(self._parsed[number])
                out.write(line + b"\n")
        if self.observation_chars is not None:
            chars = self.observation_chars.tolist()
        else:  # loaded from a model saved without them
            chars = [len(self.observation_of(row)[0]) for row in range(len(self))]
        columns = {
            "trace_ids": self.trace_ids,
            "routes": self.routes,
            "exact": self.exact,
            "observation_chars": chars,
        }
        columns_file.write_bytes(orjson.dumps(columns))

    @classmethod
    def load(cls, steps_file: Path, columns_file: Path) -> StepTable:
        try:
            rows = [line for line in steps_file.read_bytes().split(b"\n") if line]
        except OSError as exc:
            raise StoreError(f"cannot read the step table {steps_file}: {exc}") from None
        try:
            columns = orjson.loads(columns_file.read_bytes())
            if not (
                isinstance(columns, dict)
                and isinstance(columns.get("trace_ids"), list)
                and isinstance(columns.get("routes"), list)
                and isinstance(columns.get("exact"), dict)
            ):
                raise ValueError("no trace_ids and routes lists and exact mapping")
        except (OSError, ValueError) as exc:  # orjson's JSONDecodeError is a ValueError
            raise StoreError(
                f"cannot read the step table's columns {columns_file} ({exc}): the model "
                "directory is damaged"
            ) from None
        if len(rows) != len(columns["trace_ids"]):
            raise StoreError(
                f"{steps_file} has {len(rows)} rows but {columns_file} describes "
                f"{len(columns['trace_ids'])}: the model directory is damaged"
            )
        table = cls(rows, columns["trace_ids"], columns["routes"], columns["exact"])
        chars = columns.get("observation_chars")  # models saved before it have none
        if chars is not None:
            lengths = np.asarray(chars) if isinstance(chars, list) else np.zeros(())
            if lengths.ndim != 1 or (len(lengths) and lengths.dtype.kind not in "iu"):
                raise StoreError(
                    f"{columns_file}: observation_chars is not a list of whole numbers: the "
                    "model directory is damaged"
                )
            if len(lengths) != len(rows):
                raise StoreError(
                    f"{columns_file} gives {len(lengths)} observation lengths for {len(rows)} "
                    "rows: the model directory is damaged"
                )
            table.observation_chars = lengths.astype(np.int64)
        return table


def _parse_row(rows: list[bytes], row: int) -> Step:
    return Step.model_validate_json(rows[row])


def first_rows(groups: np.ndarray) -> np.ndarray:
    """Per row, whether it is the first of its group."""
    first = np.zeros(len(groups), dtype=bool)
    first[np.unique(groups, return_index=True)[1]] = True
    return first

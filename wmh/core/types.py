"""Pydantic models for the data that crosses wmh's boundaries.

A recorded agent run becomes a `Trace` of `Step`s; a live run against a world model is a `Session`
of `Turn`s. Both speak `Action` (what the agent did) and `Observation` (what the environment said).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from wmh.core.canonical import canonical_json
from wmh.core.text import counted
from wmh.errors import InputError


def check_unicode(text: str, what: str) -> str:
    """Text that can be written as UTF-8 (JSON lets a lone surrogate through, `"\\ud800"`,
    which no answer could then be serialised with)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} is not valid Unicode (a lone surrogate at character {exc.start})"
        ) from None
    return text


def validation_reasons(exc: ValidationError) -> str:
    """A pydantic error's reasons as one line, without pydantic's "Value error, " prefix."""
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())


def first_problem(exc: ValidationError) -> str:
    """Where a document first fails its model, what is wrong there, and how many problems it
    has: `name: Field required; 1 problem in all`."""
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"])) or "the file"
    return f"{where}: {first['msg']}; {counted(exc.error_count(), 'problem')} in all"


MAX_JSON_DEPTH = 100  # levels of nesting in an action's arguments or a seed state


def json_value_problem(value: Any, depth: int = 1, *, native: bool = True) -> str | None:
    """Why `value` cannot enter a session, or None: it nests more than `MAX_JSON_DEPTH` levels
    (a stored session nests it further, and JSON parsers stop at about 200), or holds a number
    that is not finite (NaN, Infinity, or 1e400 read as one: JSON has no form for it, and a
    session kept in Redis would read it back as null). Mappings, lists and tuples nest; any
    float, numpy's too, is checked; so is every string and key for a lone surrogate (JSON's
    `"\\ud800"`, which no UTF-8 can hold). With `native`, any other value than a string, a number, a
    bool or None is refused too (a world model compares values as JSON; a date or bytes was a
    TypeError); the HTTP client passes `native=False`, as pydantic writes those as JSON."""
    kind = type(value)
    if kind is dict or kind is list or isinstance(value, Mapping | list | tuple):
        if depth > MAX_JSON_DEPTH:
            return f"nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(value, Mapping):
            for key in value:
                if type(key) is str and not key.isascii() and _lone_surrogate(key):
                    return f"has a key that is not valid Unicode (a lone surrogate): {key[:40]!r}"
        for item in value.values() if isinstance(value, Mapping) else value:
            if type(item) is str:
                if not item.isascii() and _lone_surrogate(item):
                    return f"holds text that is not valid Unicode (a lone surrogate): {item[:40]!r}"
            elif type(item) not in _SCALARS:  # the common leaves skip the call
                problem = json_value_problem(item, depth + 1, native=native)
                if problem:
                    return problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            return f"holds {value}, a number that is not finite"
    elif native and not isinstance(value, str | int | None):  # bool is an int
        return f"holds a value of type {type(value).__name__}, which is not a JSON value"
    return None


_SCALARS = frozenset({str, int, bool, type(None)})


def _lone_surrogate(text: str) -> bool:
    """Whether text holds a lone surrogate (JSON's `"\\ud800"`): no UTF-8 can hold it, and
    writing it as JSON replaces it, so what was stored is not what was sent."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_action_values(action: Action, *, native: bool = True) -> None:
    """InputError if the action's arguments are no value a session can hold."""
    problem = json_value_problem(action.arguments, native=native)
    if problem:
        raise InputError(f"the arguments of {action.name or 'the action'}: {problem}")


def seed_state_from(
    state: EnvState | Mapping[str, Any] | None, *, native: bool = True
) -> EnvState | None:
    """A seed state from an `EnvState`, its JSON form (`structured`, `scratchpad`) or the
    records alone; InputError if its records are no value a session can hold."""
    if state is None:
        return None
    if not isinstance(state, EnvState):
        if not isinstance(state, Mapping):  # ("abc" and [1, 2] failed in dict(), unexplained)
            raise InputError(
                "the seed state must be its records as a mapping (or an EnvState, or "
                f"{{'structured': ..., 'scratchpad': ...}}), got {type(state).__name__}"
            )
        try:
            if set(state) <= {"structured", "scratchpad"}:
                state = EnvState.model_validate(dict(state))
            else:
                state = EnvState(structured=dict(state))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(f"the seed state: {where}: {first['msg']}") from None
    problem = json_value_problem(state.structured, native=native)
    if problem:
        raise InputError(f"the seed state: {problem}")
    return state


class ActionKind(StrEnum):
    """What kind of move the agent made."""

    TOOL_CALL = "tool_call"
    MESSAGE = "message"


class Action(BaseModel):
    """One agent action: a tool call (name + arguments) or a message (content)."""

    model_config = ConfigDict(extra="forbid")

    kind: ActionKind = ActionKind.TOOL_CALL
    name: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    content: str = ""
    _key: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_shape(self) -> Action:
        if self.kind is ActionKind.TOOL_CALL and not self.name.strip():
            raise ValueError("a tool_call action needs a non-empty 'name'")
        key = self.key()
        if not key.isascii():
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(self._not_unicode()) from None
        return self

    def _not_unicode(self) -> str:
        """Which part of the action holds a lone surrogate, and where in it (a position in the
        replay key, which joins them all, meant nothing to whoever sent the action)."""
        if self.kind is not ActionKind.TOOL_CALL:
            check_unicode(self.content, "the message")
        check_unicode(self.name, "the tool name")
        problem = json_value_problem(self.arguments, native=False)
        return f"the arguments of {self.name}: {problem or 'not valid Unicode'}"

    def key(self) -> str:
        """Identity used for exact replay: tool name + canonical arguments, or the message.

        Computed once per action (actions are treated as values and not mutated).
        """
        # The private dict directly: `self._key` goes through pydantic's slow __getattr__, and
        # session replay asks every turn of a history for its key.
        private = self.__pydantic_private__
        cached = private.get("_key") if private is not None else None
        if cached is None:
            if self.kind is ActionKind.TOOL_CALL:
                cached = f"tool:{self.name}:{canonical_json(self.arguments)}"
            else:
                cached = f"message:{self.content.strip()}"
            self._key = cached
        return cached

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Action:
        """A copy; with `update`, the memoised replay key is dropped (it may no longer hold)."""
        copy = super().model_copy(update=update, deep=deep)
        if update and copy.__pydantic_private__ is not None:
            copy.__pydantic_private__["_key"] = None
        return copy

    def render(self) -> str:
        """Short human-readable form, e.g. `get_user {"id":3}`."""
        if self.kind is ActionKind.TOOL_CALL:
            return f"{self.name} {canonical_json(self.arguments)}"
        return self.content


class Observation(BaseModel):
    """What the environment answered to an action."""

    model_config = ConfigDict(extra="forbid")

    content: str = ""
    is_error: bool = False
    reward: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class EnvState(BaseModel):
    """What the world model knows about the environment besides the history."""

    structured: dict[str, Any] = Field(default_factory=dict)
    scratchpad: str = ""


class Turn(BaseModel):
    """One action and its observation inside a session."""

    action: Action
    observation: Observation


class Step(BaseModel):
    """One recorded `(state, action) -> observation` transition of a trace."""

    action: Action
    observation: Observation
    state_before: EnvState = Field(default_factory=EnvState)
    task: str = ""
    trace_id: str
    index: int
    raw_span_ids: list[str] = Field(default_factory=list)

    @property
    def id(self) -> str:
        """Globally unique step id within a corpus."""
        return f"{self.trace_id}:{self.index}"


class Trace(BaseModel):
    """One recorded agent run, as ordered steps."""

    trace_id: str
    steps: list[Step] = Field(default_factory=list)
    source: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.steps[0].task if self.steps else ""


class UsageTotals(BaseModel):
    """What a kind of work cost: provider calls, tokens, money and the provider's time."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    def add(self, other: UsageTotals) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd = round(self.cost_usd + other.cost_usd, 8)
        self.latency_s = round(self.latency_s + other.latency_s, 6)


class EpisodeScore(BaseModel):
    """An episode's grade by the reward judge, from its task and history alone."""

    reward: float = Field(ge=0.0, le=1.0)
    success: bool
    step_rewards: list[float | None] = Field(default_factory=list)  # None: no score given
    critique: str = ""


class Session(BaseModel):
    """A live episode against a world model. `state` starts as the session's seed state;
    `usage` is what answering cost, by phase (`serve`: the world model, `judge`: scoring)."""

    id: str
    task: str = ""
    state: EnvState = Field(default_factory=EnvState)
    history: list[Turn] = Field(default_factory=list)
    created_at: float = Field(default_factory=time.time)
    usage: dict[str, UsageTotals] = Field(default_factory=dict)
    score: EpisodeScore | None = None
    size_bytes: int = 0  # of its actions' arguments and answers, for the session size cap

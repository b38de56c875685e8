"""The routes that take a body: the step route, implemented once (apply `{"action": {...}}`, or a
bare action, to a session and answer `{"observation": {...}, "state": {...}}`, serialised once),
and session creation.

Each has a documented FastAPI route (its OpenAPI entry) and a plain Starlette handler matched
first, which validates the body and answers errors exactly as FastAPI would, but skips FastAPI's
parameter machinery (a fifth of a replay step's server time) and validates a large body in a
worker thread (FastAPI validates it on the event loop: 1 MB of small values held every other
request for a quarter of a second). With a token set, `BearerGuard` has checked it before either.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from wmh.core.types import Action
from wmh.serving.limits import check_items
from wmh.serving.problems import is_json_type
from wmh.serving.registry import INLINE_BODY_BYTES, Registry
from wmh.serving.schemas import STEP_BODY, CreateSession, SessionCreated, StepRequest

STEP_PATH = "/world_models/{name}/sessions/{session_id}/step"
CREATE_PATH = "/world_models/{name}/sessions"
_CREATE_BODY: TypeAdapter[CreateSession | None] = TypeAdapter(CreateSession | None)
T = TypeVar("T")


async def apply_step(
    registry: Registry,
    name: str,
    session_id: str,
    body: StepRequest | Action,
    large: bool = False,
) -> Response:
    """Apply `{"action": {...}}` or a bare action (`large`: sent in `INLINE_BODY_BYTES` or more,
    stepped in a worker thread); the observation serialised once (FastAPI would validate it
    again first)."""
    action = body.action if isinstance(body, StepRequest) else body
    observation, state = await registry.step(name, session_id, action, large=large)
    return Response(
        b'{"observation":%s,"state":%s}'
        % (observation.model_dump_json().encode(), state.model_dump_json().encode()),
        media_type="application/json",
    )


def _body_error(error: Any) -> dict[str, Any]:
    """A pydantic error located in the body; undecodable input bytes shown as text."""
    shown = error.get("input")
    if isinstance(shown, bytes):
        shown = shown.decode("utf-8", "replace")
    return {**error, "loc": ("body", *error["loc"]), "input": shown}


def _parsed_json(adapter: TypeAdapter[T], body: bytes) -> T:
    """The body validated as JSON, as FastAPI reads it (with the standard library's parser):
    pydantic's parser refuses a lone surrogate (`"\\ud800"`), a byte order mark and UTF-16 or
    UTF-32 as no JSON at all, and stops at 200 levels, where the standard library reads all of
    them (and the model's own check then says what is wrong: which value, and why). Past the
    standard library's depth, the body is too deep."""
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        why = [str(e.get("ctx", {}).get("error", "")) for e in exc.errors()
               if e["type"] == "json_invalid"]  # fmt: skip
        readable = json.detect_encoding(body) != "utf-8" or any(
            "hex escape" in w or "recursion limit" in w for w in why
        )
        if not readable:
            _say_if_not_utf8(body)
            raise  # no JSON: answered as it is
        try:
            loaded = json.loads(body)
        except (ValueError, RecursionError):
            _say_if_not_utf8(body)
            raise exc from None
        return adapter.validate_python(loaded)


def _say_if_not_utf8(body: bytes) -> None:
    """A 400 naming the first byte that is no UTF-8, where that is why the body is no JSON
    ('the body is not valid JSON' did not say what to fix)."""
    if json.detect_encoding(body) != "utf-8":
        return  # UTF-16 or 32 (or UTF-8 after a byte order mark) that is no JSON
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise HTTPException(
            400, f"the body is not UTF-8 text (byte 0x{body[bad.start]:02x} at byte "
            f"{bad.start + 1}): JSON is sent as UTF-8",
        ) from None  # fmt: skip


def _validated(adapter: TypeAdapter[T], request: Request, body: bytes, items: int) -> T:
    """A non-empty body validated as FastAPI validates it: JSON when the content type says so
    (and it holds at most `items` items: 413 otherwise, before it is parsed), else text (which
    is never a model); errors located in the body."""
    try:
        if is_json_type(request.headers.get("content-type", "")):
            check_items(body, items)
            return _parsed_json(adapter, body)
        # FastAPI validates a body of another type as its bytes (from attributes), never a model
        return adapter.validate_python(body, from_attributes=True)
    except ValidationError as exc:
        errors = [_body_error(e) for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def plain_step_handler(registry: Registry) -> Callable[[Request], Awaitable[Response]]:
    """The step endpoint as a plain Starlette handler; errors as FastAPI would answer them. A
    body of `INLINE_BODY_BYTES` or more is validated and stepped in a worker thread."""

    async def step(request: Request) -> Response:
        body = await request.body()
        if not body:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        params = request.path_params
        name, session_id = params["name"], params["session_id"]
        items = registry.max_body_items
        if len(body) < INLINE_BODY_BYTES:
            return await apply_step(
                registry, name, session_id, _validated(STEP_BODY, request, body, items)
            )
        # Validated, then stepped, in worker threads (each counted against serve.threads).
        parsed = await registry.off_loop(lambda: _validated(STEP_BODY, request, body, items))
        return await apply_step(registry, name, session_id, parsed, large=True)

    return step


def plain_create_handler(registry: Registry) -> Callable[[Request], Awaitable[Response]]:
    """Session creation as a plain Starlette handler, answering as the documented FastAPI route
    (no body: a session with no task); a body of `INLINE_BODY_BYTES` or more (a large seed
    state) is validated and stored in a worker thread, not on the event loop every other
    request waits on."""

    async def create(request: Request) -> Response:
        body = await request.body()
        name = request.path_params["name"]

        given: CreateSession | None = None
        large, items = len(body) >= INLINE_BODY_BYTES, registry.max_body_items
        if large:
            given = await registry.off_loop(lambda: _validated(_CREATE_BODY, request, body, items))
        elif body:
            given = _validated(_CREATE_BODY, request, body, items)
        seed = given or CreateSession()
        session = await registry.run(
            name, lambda model: model.new_session(seed.task, seed.seed_state), blocking=large
        )
        created = SessionCreated(session_id=session.id, state=session.state)
        return Response(created.model_dump_json(), status_code=201, media_type="application/json")

    return create

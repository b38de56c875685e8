"""The step route, implemented once: apply `{"action": {...}}` (or a bare action) to a session and
answer `{"observation": {...}, "state": {...}}`, serialised once.

Two routes reach it: the documented FastAPI route (its OpenAPI entry), and a plain Starlette
handler matched first, which skips FastAPI's parameter machinery (a fifth of a replay step's
server time) while validating the body and answering errors exactly as FastAPI would. With a
token set, `BearerGuard` has checked it before either.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from wmh.core.types import Action
from wmh.serving.registry import Registry
from wmh.serving.schemas import StepRequest

STEP_PATH = "/world_models/{name}/sessions/{session_id}/step"
_STEP_BODY: TypeAdapter[StepRequest | Action] = TypeAdapter(StepRequest | Action)


async def apply_step(
    registry: Registry, name: str, session_id: str, body: StepRequest | Action
) -> Response:
    """Apply `{"action": {...}}` or a bare action; the observation serialised once (FastAPI would
    validate it again first)."""
    action = body.action if isinstance(body, StepRequest) else body
    observation, state = await registry.step(name, session_id, action)
    return Response(
        b'{"observation":%s,"state":%s}'
        % (observation.model_dump_json().encode(), state.model_dump_json().encode()),
        media_type="application/json",
    )


def _json_body(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _body_error(error: Any) -> dict[str, Any]:
    """A pydantic error located in the body; undecodable input bytes shown as text."""
    shown = error.get("input")
    if isinstance(shown, bytes):
        shown = shown.decode("utf-8", "replace")
    return {**error, "loc": ("body", *error["loc"]), "input": shown}


def _parsed_json(body: bytes) -> StepRequest | Action:
    """The body validated as JSON. pydantic's parser refuses a lone surrogate (`"\\ud800"`) as
    no JSON at all, where FastAPI's (the standard library's) reads it and the action's own check
    then says what is wrong: that answer, not a 400, for the same body on either route."""
    try:
        return _STEP_BODY.validate_json(body)
    except ValidationError as exc:
        escapes = [e for e in exc.errors() if e["type"] == "json_invalid"]
        if not any("hex escape" in str(e.get("ctx", {}).get("error", "")) for e in escapes):
            raise  # no JSON, or nested past the parser's limit: answered as it is
        try:
            loaded = json.loads(body)
        except (ValueError, RecursionError):
            raise exc from None
        return _STEP_BODY.validate_python(loaded)


def plain_step_handler(registry: Registry) -> Callable[[Request], Awaitable[Response]]:
    """The step endpoint as a plain Starlette handler; errors as FastAPI would answer them."""

    async def step(request: Request) -> Response:
        body = await request.body()
        try:
            if not body:
                raise RequestValidationError(
                    [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
                )
            if _json_body(request):
                parsed = _parsed_json(body)
            else:  # FastAPI reads a body of another type as text, which is never an action
                parsed = _STEP_BODY.validate_python(body.decode("utf-8", "replace"))
        except ValidationError as exc:
            errors = [_body_error(e) for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        params = request.path_params
        return await apply_step(registry, params["name"], params["session_id"], parsed)

    return step

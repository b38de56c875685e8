"""Errors as HTTP answers: every error is JSON with a `detail`. A WmhError gets the status its
kind means (unknown model or session 404, bad config 400, provider 502, store 503); FastAPI's own
errors keep their status (a 405 lists every method its path has); anything else is a 500 that
points at the server log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wmh.core.types import MAX_JSON_DEPTH
from wmh.errors import (
    NOT_APPLIED_HEADER,
    NOT_FOUND_HEADER,
    ConfigError,
    InputError,
    ModelNotFoundError,
    ProviderError,
    ServerBusyError,
    SessionFullError,
    SessionNotFoundError,
    StoreError,
    WmhError,
)
from wmh.serving.schemas import STEP_BODY, StepRequest

log = logging.getLogger(__name__)

STATUS = (
    (ModelNotFoundError, 404),
    (SessionNotFoundError, 404),
    (SessionFullError, 413),
    (InputError, 422),
    (ConfigError, 400),
    (ProviderError, 502),
    (StoreError, 503),
    (ServerBusyError, 503),
)


def _status(exc: WmhError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 400


# The longest integer a body may hold: pydantic's JSON parser's, and Python's by default.
MAX_INT_DIGITS = 4300
RETRY_AFTER_S = 1  # what a 503 (store briefly unavailable, server busy) asks a client to wait
SHOWN_INPUT = 120  # characters of a refused input shown back in a validation error


def _clip_input(value: object) -> object:
    """A refused input as a validation error shows it: short values as they are, large ones as
    a clipped text (a 10 MB body is never echoed back, once per union branch)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = value if not isinstance(value, str) else value[:SHOWN_INPUT]
        return text
    shown = repr(value)
    return (
        shown if len(shown) <= SHOWN_INPUT else f"{shown[:SHOWN_INPUT]}… ({type(value).__name__})"
    )


class _DepthCheckedRequest(Request):
    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            # As a JSON error, which FastAPI reports as one (and `invalid` below answers as too
            # deep); FastAPI makes any other parse failure an unexplained 400. No body is kept.
            raise json.JSONDecodeError("recursion limit exceeded", "", 0) from None
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError) or "integer string" not in str(exc):
                raise
            # An integer past Python's digit limit: JSON, as pydantic's parser words it.
            raise json.JSONDecodeError("number out of range", "", 0) from None


class DepthCheckedRoute(APIRoute):
    """A FastAPI route whose JSON body nested past the parser's recursion limit is answered as
    too deep (422), as the plain step handler answers it, not as 'There was an error parsing the
    body'."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(_DepthCheckedRequest(request.scope, request.receive))

        return checked


def step_body_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A step body's validation errors for the form it was sent in: pydantic reports both
    forms of the union (`{"action": {...}}` and the bare action), each under an internal tag
    (`function-after[_check_shape(), Action]`), so a bad bare action also got "Field
    required" for `action`, and a bad wrapped one "Extra inputs are not permitted". The form
    whose `action` is missing is dropped, and the tags with it; other errors pass as they are."""
    tags = _step_union_tags()
    tagged = [e for e in errors if len(e["loc"]) > 1 and e["loc"][1] in tags]
    if not tagged:
        return errors
    wrapped = StepRequest.__name__
    bare = any(
        e["type"] == "missing" and tuple(e["loc"]) == ("body", wrapped, "action") for e in tagged
    )
    keep = next(iter(tags - {wrapped})) if bare else wrapped
    return [
        {**e, "loc": (e["loc"][0], *e["loc"][2:])}
        for e in errors
        if not (len(e["loc"]) > 1 and e["loc"][1] in tags) or e["loc"][1] == keep
    ]


@cache
def _step_union_tags() -> frozenset[str]:
    """The tags pydantic puts in an error's location for each form of the step body."""
    try:
        STEP_BODY.validate_python(None)
    except ValidationError as exc:
        return frozenset(str(e["loc"][0]) for e in exc.errors() if e["loc"])
    raise AssertionError("a step body of null validated")


def is_json_type(content_type: str) -> bool:
    """Whether a content type is JSON's: application/json or application/*+json."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WmhError)
    async def wmh_error(_: Request, exc: WmhError) -> JSONResponse:
        status = _status(exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        if isinstance(exc, ServerBusyError):
            headers = {**(headers or {}), NOT_APPLIED_HEADER: "1"}
        if isinstance(exc, ModelNotFoundError | SessionNotFoundError):
            missing = "model" if isinstance(exc, ModelNotFoundError) else "session"
            headers = {**(headers or {}), NOT_FOUND_HEADER: missing}
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        kind = request.headers.get("content-type", "")
        of_body = all(e["loc"][:1] in (("body",), ["body"]) for e in exc.errors())
        given_body = not any(e.get("type") == "missing" for e in exc.errors())
        if of_body and given_body and not is_json_type(kind):
            # A body, but not sent as JSON (a form, text, no type at all): say what to send,
            # not that it is no dictionary.
            given = f"'{kind[:80]}'" if kind else "none"
            return JSONResponse(
                {"detail": f"the body must be JSON, sent with content-type application/json "
                           f"(content-type given: {given})"},
                status_code=415,
            )  # fmt: skip
        broken = [str(e.get("ctx", {}).get("error", "")) for e in exc.errors()
                  if e.get("type") == "json_invalid"]  # fmt: skip
        if any("recursion limit" in why for why in broken):
            # JSON, but deeper than the parser goes: a value no session could hold.
            return JSONResponse(
                {"detail": f"the body is nested more than {MAX_JSON_DEPTH} levels deep"},
                status_code=422,
            )
        if any("number out of range" in why for why in broken):
            # JSON, but an integer longer than the parsers read.
            return JSONResponse(
                {"detail": f"the body holds a number of more than {MAX_INT_DIGITS} digits"},
                status_code=422,
            )
        if broken and not any("surrogate" in why for why in broken):
            # Not JSON at all: the request is wrong, not a field of it. (A lone surrogate is
            # JSON but no text: a 422 like the same string anywhere else.)
            return JSONResponse({"detail": "the body is not valid JSON"}, status_code=400)
        errors = [
            {**{k: v for k, v in e.items() if k not in ("input", "ctx", "url")},
             "msg": str(e.get("msg", "")).removeprefix("Value error, "),
             "input": _clip_input(e.get("input"))}
            for e in step_body_errors(list(exc.errors()))[:20]
        ]  # fmt: skip
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Routes sharing a path are separate routes: list every method the path has.
            path = request.url.path
            methods = {
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(path)
                for method in route.methods or ()
            }
            headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=500,
        )

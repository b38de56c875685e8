"""The bearer token: `WMH_API_TOKEN`, when set, guards every route but `/healthz` (`/docs` and
`/openapi.json` too); a missing or wrong token is a 401 that says what to send.

`BearerGuard` checks it as plain ASGI middleware, before any route reads a body: a request
without the token gets its 401 whatever it sent (a body that is not JSON was a 400 first, as
FastAPI reads the body before a route's dependencies). The routes keep `bearer_check` as a
dependency, which documents the header in the OpenAPI schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Header, HTTPException

from wmh.errors import ConfigError
from wmh.serving.limits import send_json

TOKEN_ENV = "WMH_API_TOKEN"


def configured_token(token: str | None) -> str | None:
    """`token` when given, else `$WMH_API_TOKEN`; None (auth off) when neither is set. A token
    that is set but empty is refused: it would silently turn auth off."""
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise ConfigError(
            f"${TOKEN_ENV} is set but empty: set a token, or unset it to serve without auth"
        )
    return token


REFUSED = "missing or wrong bearer token: send Authorization: Bearer $WMH_API_TOKEN"


def _accepted(authorization: bytes | str | None, token: bytes) -> bool:
    """Whether `Authorization` carries the token. The scheme's name is case-insensitive (RFC
    9110, 11.1); the token is compared whole, in constant time."""
    if isinstance(authorization, str):
        authorization = authorization.encode("latin-1", "replace")
    scheme, _, credentials = (authorization or b"").partition(b" ")
    given = credentials if scheme.lower() == b"bearer" else b""
    return secrets.compare_digest(given, token)


class BearerGuard:
    """Plain ASGI middleware: every HTTP request but to `open_paths` (or under
    `open_prefixes`) carries the token, or is answered 401 before the app sees it."""

    def __init__(
        self,
        app: Any,
        token: str,
        open_paths: frozenset[str] = frozenset(),
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths
        self.open_prefixes = open_prefixes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self.open_paths or path.startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"authorization":
                if _accepted(value, self.token):
                    await self.app(scope, receive, send)
                    return
                break
        body = orjson.dumps({"detail": REFUSED})
        await send_json(send, 401, body, ((b"www-authenticate", b"Bearer"),))


def bearer_check(token: str | None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets through only `Authorization: Bearer <token>`."""

    async def check(authorization: str | None = Header(default=None)) -> None:
        if not token:
            return
        if not _accepted(authorization, token.encode()):
            raise HTTPException(401, REFUSED, headers={"WWW-Authenticate": "Bearer"})

    return check

"""The bearer token: `WMH_API_TOKEN`, when set, guards every route but `/healthz` (`/docs` and
`/openapi.json` too); a missing or wrong token is a 401 that says what to send."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Header, HTTPException

from wmh.errors import ConfigError

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


def bearer_check(token: str | None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets through only `Authorization: Bearer <token>`."""

    async def check(authorization: str | None = Header(default=None)) -> None:
        if not token:
            return
        # The scheme's name is case-insensitive (RFC 9110, 11.1); the token is compared whole.
        scheme, _, credentials = (authorization or "").partition(" ")
        given = credentials.encode() if scheme.lower() == "bearer" else b""
        if not secrets.compare_digest(given, token.encode()):
            raise HTTPException(
                401,
                "missing or wrong bearer token: send Authorization: Bearer $WMH_API_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check

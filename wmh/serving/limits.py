"""Request bodies are bounded: one large request must not stall the server for everyone.

`BodyLimit` is plain ASGI middleware, so a body over the limit is refused (413) from its
Content-Length before anything reads it, or, sent in chunks, as soon as it passes the limit; the
route never sees it, and no validation error echoes it back.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]


def _reason(limit: int) -> str:
    return f"request body too large: the limit is {limit} bytes (serve.max_body_bytes)"


class _TooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so a route that reads its body through FastAPI
    answers the 413 (FastAPI turns any other error raised while reading into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _reason(limit))


def _too_large(limit: int) -> bytes:
    return orjson.dumps({"detail": _reason(limit)})


async def send_json(
    send: Any, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A JSON answer sent from plain ASGI middleware, before the app sees the request."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        await send_json(send, 413, _too_large(self.max_bytes))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

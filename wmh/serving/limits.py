"""Request bodies are bounded: one large request must not stall the server for everyone.

`BodyLimit` is plain ASGI middleware, so a body over the limit is refused (413) from its
Content-Length before anything reads it, or, sent in chunks, as soon as it passes the limit; the
route never sees it, and no validation error echoes it back. A body within that size may still
hold a third of a million tiny JSON values, whose parsing (in C, holding the interpreter lock)
would hold every other request a good part of a second: `check_items` counts them first, in a
few milliseconds, and refuses a body holding more than `serve.max_body_items`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]


def _reason(limit: int) -> str:
    return f"request body too large: the limit is {limit} bytes (serve.max_body_bytes)"


def json_items(body: bytes) -> int:
    """How many items a JSON text holds: its array elements and object members, each empty
    array or object counted as one. That is its commas, brackets and braces outside strings
    (a comma inside a string is text, not an item), counted over its bytes with numpy; a text in
    UTF-16 or UTF-32 is counted as UTF-8. The count of a text that is no JSON means nothing."""
    if json.detect_encoding(body) != "utf-8":
        body = body.decode(json.detect_encoding(body), "replace").encode("utf-8", "replace")
    if b"\\" in body:
        # A backslash (only ever inside a string) escapes the byte after it: read from the left,
        # as a parser does, the escaped backslashes, then the escaped quotes, are text.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    raw = np.frombuffer(body, dtype=np.uint8)
    marks = (raw == ord(",")) | (raw == ord("[")) | (raw == ord("{"))
    quote = raw == ord('"')
    if quote.any():
        # A mark after an odd number of quotes (each opens or closes a string) is in a string.
        marks &= (np.cumsum(quote, dtype=np.uint8) & 1) == 0
    return int(np.count_nonzero(marks))


def check_items(body: bytes, limit: int) -> None:
    """Refuse (413) a body holding more than `limit` JSON items (`json_items`): counting its
    marks' bytes first costs a fraction of a millisecond, and only a body with more marks than
    the limit is counted outside its strings."""
    if len(body) <= limit:
        return  # (each item takes a byte at least)
    if sum(body.count(mark) for mark in (b",", b"[", b"{")) <= limit:
        return  # (in UTF-16 or 32 too: each mark's code unit holds its byte)
    if json_items(body) > limit:
        raise HTTPException(
            413,
            f"request body too large: it holds more than {limit} JSON items, array elements "
            "and object members (serve.max_body_items)",
        )


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

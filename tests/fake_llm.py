"""A scripted OpenAI-compatible server on 127.0.0.1 for testing the LLM paths over real HTTP.

Each request to /v1/chat/completions takes the next scripted reply (or the default); a reply can
be text, an HTTP error status, a delay, or a malformed body. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None  # sent as is (malformed answers)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None  # (name, arguments) to answer
    finish_reason: str = ""  # "length": as a server whose max_tokens cut the answer


def echo_environment(body: dict[str, Any]) -> Reply:
    """A stand-in environment: answers any action with its arguments as a JSON record."""
    prompt = str(body.get("messages", [{}])[-1].get("content", ""))
    arguments = "{}"
    if "Arguments: " in prompt:
        arguments = prompt.split("Arguments: ", 1)[1].split("\n", 1)[0]
    return Reply(
        f'<observation is_error="false">\n{{"echo": {arguments}}}\n</observation>\n'
        "<scratchpad>\nsaw the action\n</scratchpad>"
    )


@dataclass
class FakeLLM:
    script: list[Reply | Callable[[dict[str, Any]], Reply]] = field(default_factory=list)
    default: Reply | Callable[[dict[str, Any]], Reply] = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server_seconds: list[float] = field(default_factory=list)  # time to answer, per request
    port: int = 0
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding_status: int = 200  # a failing embeddings endpoint answers this
    api_keys: list[str] = field(default_factory=list)  # each request's bearer key ("" if none)
    in_flight: int = 0  # chat requests being answered now
    most_in_flight: int = 0  # the most ever answered at once
    _counting: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def entered(self) -> None:
        with self._counting:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def left(self) -> None:
        with self._counting:
            self.in_flight -= 1

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self, body: dict[str, Any]) -> Reply:
        self.requests.append(body)
        item = self.script.pop(0) if self.script else self.default
        return item(body) if callable(item) else item


def _message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for i, (name, arguments) in enumerate(reply.tool_calls)
        ]
    return message


class _Server(ThreadingHTTPServer):
    """As a real model server: a listen backlog for many clients connecting at once (the
    default of 5 dropped connections under load, each retried by the kernel a second later)."""

    request_queue_size = 1024


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int) -> None:
            """An error body that repeats the request's key, as OpenAI's 401 does ("Incorrect
            API key provided: sk-..."), so tests see wmh keep it out of its own messages."""
            message = f"scripted {status}: Incorrect API key provided: {self._key()}"
            error = {"error": {"message": message, "type": "server_error"}}
            self._send(status, json.dumps(error).encode())

        def _key(self) -> str:
            return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.api_keys.append(self._key())
            if self.path.endswith("/embeddings"):
                self._embeddings(body)
                return
            reply = fake.next_reply(body)
            if reply.delay_s:
                fake.entered()
                time.sleep(reply.delay_s)
                fake.left()
            if reply.raw is not None:
                self._send(reply.status, reply.raw)
                return
            if reply.status != 200:
                self._error(reply.status)
                return
            answer = {
                "id": f"chatcmpl-{len(fake.requests)}",
                "object": "chat.completion",
                "created": 1767225600,
                "model": body.get("model", "local-model"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": reply.finish_reason
                        or ("tool_calls" if reply.tool_calls else "stop"),
                        "message": _message(reply),
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            }
            self._send(200, json.dumps(answer).encode())
            fake.server_seconds.append(time.perf_counter() - started)

        def _embeddings(self, body: dict[str, Any]) -> None:
            fake.embedding_requests.append(body)
            if fake.embedding_status != 200:
                self._error(fake.embedding_status)
                return
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dim = int(body.get("dimensions") or 32)
            data = [
                {"object": "embedding", "index": i, "embedding": word_vector(text, dim)}
                for i, text in enumerate(texts)
            ]
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            answer = {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
            self._send(200, json.dumps(answer).encode())

    return Handler


def word_vector(text: str, dim: int) -> list[float]:
    """A stand-in embedding model: counts of the text's words hashed into `dim` slots (stable
    across processes), so texts that share words are close."""
    vector = [0.0] * dim
    for word in text.replace("{", " ").replace("}", " ").replace('"', " ").split():
        vector[zlib.crc32(word.encode()) % dim] += 1.0
    return vector


class FakeLLMServer:
    """Context manager running a FakeLLM on a free 127.0.0.1 port."""

    def __init__(self, fake: FakeLLM | None = None) -> None:
        self.fake = fake or FakeLLM()
        self._server = _Server(("127.0.0.1", 0), _handler(self.fake))
        self.fake.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    # A server to try the LLM path by hand: python tests/fake_llm.py [PORT]
    import sys

    fake = FakeLLM(default=echo_environment)
    server = _Server(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8001), _handler(fake))
    print(f"scripted OpenAI-compatible server on http://127.0.0.1:{server.server_address[1]}/v1")
    server.serve_forever()

"""Chat completions sent straight to an OpenAI-compatible server (vLLM, Ollama, llama.cpp server),
over one kept-alive HTTP client per provider.

`provider=openai_compatible` is the provider RL loops step against by the thousand, on the same
machine, where the harness's own time per call sets the pace. Measured against the scripted
server on 127.0.0.1 (bench/bench_llm.py), `litellm.completion` spent about 7-13 ms a call of its
own beyond the HTTP round trip: a new connection per call, its logging object and a cost lookup
per response. This client spends well under a millisecond. Everything else (hosted providers,
fallbacks between models) still goes through litellm. A self-hosted server has no per-token
price, so its calls cost 0 here, as litellm also prices a model it does not know.

Errors carry the names litellm gives them (RateLimitError, AuthenticationError, Timeout, ...), so
a failing build says the same whichever path made the call; 408, 409, 429 and 5xx answers and
connection failures are retried `num_retries` times with a short exponential back-off.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from wmh.config.schema import ProviderConfig
from wmh.core.secrets import url_without_credentials

if TYPE_CHECKING:  # imported when a DirectChat is made: a replay build or `wmh list` never calls
    import httpx
    from tenacity import Retrying

KEYLESS_PLACEHOLDER = "no-key-needed"  # vLLM, Ollama and llama.cpp need none; send something
# Arguments that configure the call rather than go into the request body.
_NOT_IN_BODY = frozenset(
    {"timeout", "num_retries", "api_base", "api_version", "fallbacks", "api_key", "model"}
)
_RETRIED_STATUS = frozenset({408, 409, 429})


class DirectChatError(Exception):
    """A call that failed; the subclass name says how (as litellm's exceptions do)."""

    retryable = False


class Timeout(DirectChatError):
    retryable = True


class APIConnectionError(DirectChatError):
    retryable = True


class RateLimitError(DirectChatError):
    retryable = True


class InternalServerError(DirectChatError):
    retryable = True


class AuthenticationError(DirectChatError):
    pass


class NotFoundError(DirectChatError):
    pass


class BadRequestError(DirectChatError):
    pass


def _status_error(status: int, body: str) -> DirectChatError:
    kinds: dict[int, type[DirectChatError]] = {
        400: BadRequestError,
        401: AuthenticationError,
        403: AuthenticationError,
        404: NotFoundError,
        429: RateLimitError,
    }
    kind = kinds.get(status) or (InternalServerError if status >= 500 else DirectChatError)
    error = kind(f"HTTP {status} from the server: {body[:200]}")
    if status in _RETRIED_STATUS or status >= 500:
        error.retryable = True
    return error


def served_model(model: str) -> str:
    """The name the server serves: `openai/<name>` in wmh's config, as litellm spells it."""
    return model.split("/", 1)[1] if model.startswith("openai/") else model


class DirectChat:
    """POST `{api_base}/chat/completions` with a shared, kept-alive connection pool."""

    def __init__(self, config: ProviderConfig) -> None:
        import httpx

        if not config.api_base:
            raise ValueError("provider.api_base is needed for provider=openai_compatible")
        # Parsed once: httpx would parse a string URL again on every call.
        self.url = httpx.URL(config.api_base.rstrip("/") + "/chat/completions")
        self.model = served_model(config.model)
        key = os.environ.get("OPENAI_API_KEY") or KEYLESS_PLACEHOLDER
        # Bodies are encoded and answers decoded with orjson: the standard json module's share
        # of a call was about 0.2 ms.
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self._client = httpx.Client(headers=self._headers, limits=self._limits)
        self._retrying: dict[int, Retrying] = {}
        # An async client belongs to the event loop it was first used on (a server has one).
        self._async: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None

    def body(self, arguments: dict[str, Any]) -> dict[str, Any]:
        body = {"model": self.model}
        body.update((k, v) for k, v in arguments.items() if k not in _NOT_IN_BODY)
        return body

    def complete(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The server's JSON answer; raises a DirectChatError after `num_retries` retries."""
        retries = int(arguments.get("num_retries", 0) or 0)
        retrying = self._retrying.get(retries)
        if retrying is None:  # one per count: a Retrying keeps its state per thread
            from tenacity import Retrying

            retrying = self._retrying[retries] = Retrying(**_retrying(arguments))
        result: dict[str, Any] = retrying(
            self._once, self.body(arguments), float(arguments.get("timeout", 60.0))
        )
        return result

    async def acomplete(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """`complete` on the event loop, over a kept-alive async client."""
        from tenacity import AsyncRetrying

        call = AsyncRetrying(**_retrying(arguments))
        result: dict[str, Any] = await call(
            self._aonce, self.body(arguments), float(arguments.get("timeout", 60.0))
        )
        return result

    def _async_client(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client = httpx.AsyncClient(headers=self._headers, limits=self._limits)
            self._async = (loop, client)
        return self._async[1]

    @contextmanager
    def _reaching(self, timeout: float) -> Iterator[None]:
        """Transport failures as the DirectChatError that says how the call failed."""
        import httpx

        try:
            yield
        except httpx.TimeoutException as exc:
            raise Timeout(f"no answer within {timeout:g}s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            where = url_without_credentials(str(self.url))
            raise APIConnectionError(f"cannot reach {where}: {type(exc).__name__}") from None

    def _once(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        with self._reaching(timeout):
            answer = self._client.post(self.url, content=orjson.dumps(body), timeout=timeout)
        return self._parsed(answer)

    async def _aonce(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        with self._reaching(timeout):
            client = self._async_client()
            answer = await client.post(self.url, content=orjson.dumps(body), timeout=timeout)
        return self._parsed(answer)

    def _parsed(self, answer: httpx.Response) -> dict[str, Any]:
        if answer.status_code != 200:
            raise _status_error(answer.status_code, answer.text)
        try:
            parsed = orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            raise BadRequestError(f"the server's answer is not JSON: {answer.text[:200]}") from None
        if not isinstance(parsed, dict) or not parsed.get("choices"):
            raise BadRequestError(f"the server's answer has no choices: {answer.text[:200]}")
        return parsed


def _retrying(arguments: dict[str, Any]) -> dict[str, Any]:
    """Tenacity's settings for a call: retryable failures, `num_retries` times, backing off."""
    from tenacity import retry_if_exception, stop_after_attempt, wait_exponential

    retries = int(arguments.get("num_retries", 0) or 0)
    return {
        "retry": retry_if_exception(lambda e: getattr(e, "retryable", False)),
        "stop": stop_after_attempt(retries + 1),
        "wait": wait_exponential(multiplier=0.25, max=4),
        "reraise": True,
    }


def tool_calls_of(message: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(name, arguments) of each tool call in a message; unparseable arguments become {}."""
    calls = []
    for call in message.get("tool_calls") or ():
        function = (call or {}).get("function") or {}
        name = function.get("name")
        if not name:
            continue
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            arguments = {}
        calls.append((str(name), arguments if isinstance(arguments, dict) else {}))
    return tuple(calls)

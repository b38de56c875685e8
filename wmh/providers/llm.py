"""LLM providers through litellm: one call shape for Anthropic, Bedrock, Azure, OpenAI and any
OpenAI-compatible server, configured in data (`conf/provider/*.yaml`), credentials from the
environment only. Retries with backoff and fallbacks are litellm's; wmh adds accounting and
errors that name the provider and model but never a credential.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from wmh.config.schema import ProviderConfig
from wmh.core.secrets import redact_environment, url_without_credentials
from wmh.core.text import counted
from wmh.errors import ConfigError, ProviderError
from wmh.offline import import_litellm
from wmh.providers.openai_direct import KEYLESS_PLACEHOLDER, DirectChat, tool_calls_of

ANSWER_FORMATS = ("tags", "json_schema")

log = logging.getLogger(__name__)
for _noisy in ("LiteLLM", "litellm", "httpx"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_s: float
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, arguments) when asked
    # Why the server stopped: "stop" (the answer ended), "length" (max_tokens cut it), ...
    finish_reason: str = ""


@dataclass
class Usage:
    """Running totals, safe to update from several threads."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, completion: Completion) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            self.cost += completion.cost
            self.latency_s += completion.latency_s

    def as_dict(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 8),
            "latency_s": round(self.latency_s, 4),
            "failures": self.failures,
        }


def _tool_calls(raw: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(name, arguments) of each tool call in a litellm completion, read as a direct answer's."""
    calls = []
    for call in raw or ():
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        arguments = getattr(function, "arguments", None)
        calls.append({"function": {"name": name, "arguments": arguments}})
    return tool_calls_of({"tool_calls": calls})


class _Deadline:
    """A bound on the time all provider calls may still take (a build sets it): past it, a call
    fails at once; before it, a call's own timeout is cut to what is left."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.budget_s = 0.0

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()


_DEADLINE = _Deadline()


def provider_time_spent() -> str:
    """Why calls fail at once, when the build's provider time is spent ('' otherwise)."""
    remaining = _DEADLINE.remaining()
    if remaining is None or remaining > 0:
        return ""
    budget = f"provider.build_time_s={_DEADLINE.budget_s:g}"
    return f"the build's time for provider calls ({budget}) ran out"


@contextmanager
def provider_time_budget(seconds: float) -> Iterator[None]:
    """Every provider call in the block (any thread) shares `seconds` of wall time."""
    previous = (_DEADLINE.at, _DEADLINE.budget_s)
    _DEADLINE.at, _DEADLINE.budget_s = time.monotonic() + seconds, seconds
    try:
        yield
    finally:
        _DEADLINE.at, _DEADLINE.budget_s = previous


def check_provider_settings(config: ProviderConfig) -> None:
    """ConfigError for a setting no call can use, naming it (a zero timeout read as 'cannot
    reach' the server; a zero max_tokens was sent as 1)."""
    if config.answer_format not in ANSWER_FORMATS:
        raise ConfigError(
            f"provider.answer_format must be one of {', '.join(ANSWER_FORMATS)}, "
            f"got '{config.answer_format}'"
        )
    if config.max_tokens < 1:
        raise ConfigError(f"provider.max_tokens must be at least 1, got {config.max_tokens}")
    for key in ("timeout", "build_time_s"):
        seconds = getattr(config, key)
        if not seconds > 0:  # NaN too; inf is no limit
            raise ConfigError(f"provider.{key} must be a number of seconds above 0, got {seconds}")
    if config.num_retries < 0:
        raise ConfigError(f"provider.num_retries must be 0 or more, got {config.num_retries}")
    if config.context_window < 0:
        raise ConfigError(
            f"provider.context_window must be 0 (any) or more, got {config.context_window}"
        )
    if not 0 <= config.max_error_share <= 1:
        raise ConfigError(
            f"provider.max_error_share must be from 0 to 1, got {config.max_error_share}"
        )


class LLMProvider:
    """Chat completions through `litellm.completion` with the configured model and policies."""

    def __init__(self, config: ProviderConfig) -> None:
        if not config.model:
            raise ProviderError(
                f"provider={config.name} needs provider.model (e.g. "
                "openai/gpt-4o-mini, anthropic/claude-sonnet-4-5)"
            )
        check_provider_settings(config)
        self.config = config
        self.usage = Usage()
        # A self-hosted OpenAI-compatible server is called directly (providers/openai_direct.py);
        # with fallbacks to other models, litellm routes the call.
        self._direct: DirectChat | None = None
        if config.name == "openai_compatible" and config.api_base and not config.fallbacks:
            self._direct = DirectChat(config)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def model(self) -> str:
        return self.config.model

    def describe(self) -> str:
        base = self.config.api_base
        where = f" at {url_without_credentials(base)}" if base else ""
        return f"{self.config.name} ({self.config.model}{where})"

    def _arguments(self, messages: list[dict[str, str]], **overrides: Any) -> dict[str, Any]:
        config = self.config
        arguments: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "timeout": config.timeout,
            "num_retries": config.num_retries,
        }
        if config.frequency_penalty:
            arguments["frequency_penalty"] = config.frequency_penalty
        if config.api_base:
            arguments["api_base"] = config.api_base
        if config.api_version:
            arguments["api_version"] = config.api_version
        if config.fallbacks:
            arguments["fallbacks"] = list(config.fallbacks)
        if config.name == "openai_compatible" and not os.environ.get("OPENAI_API_KEY"):
            arguments["api_key"] = KEYLESS_PLACEHOLDER
        arguments.update(overrides)
        return arguments

    def complete(self, messages: list[dict[str, str]], **overrides: Any) -> Completion:
        """One chat completion; raises ProviderError after retries and fallbacks fail."""
        overrides = self._bounded(overrides)
        started = time.perf_counter()
        arguments = self._arguments(messages, **overrides)
        try:
            if self._direct is not None:
                return self._counted(self._direct.complete(arguments), started)
            response = import_litellm().completion(**arguments)
        except Exception as exc:  # noqa: BLE001 - litellm raises many types; all become one
            raise self._failed(exc) from None
        return self._priced(response, started)

    async def acomplete(self, messages: list[dict[str, str]], **overrides: Any) -> Completion:
        """`complete` on the event loop: no thread waits while the provider answers."""
        overrides = self._bounded(overrides)
        started = time.perf_counter()
        arguments = self._arguments(messages, **overrides)
        try:
            if self._direct is not None:
                return self._counted(await self._direct.acomplete(arguments), started)
            response = await import_litellm().acompletion(**arguments)
        except Exception as exc:  # noqa: BLE001 - litellm raises many types; all become one
            raise self._failed(exc) from None
        return self._priced(response, started)

    def _bounded(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The call's overrides with its timeout cut to the build's provider time left (a
        ProviderError when none is)."""
        remaining = _DEADLINE.remaining()
        if remaining is None:
            return overrides
        if remaining <= 0:
            self.usage.failures += 1
            raise ProviderError(
                f"provider {self.config.name} model {self.config.model}: the build's time "
                f"for provider calls (provider.build_time_s={_DEADLINE.budget_s:g}) is spent"
            )
        timeout = min(float(overrides.get("timeout", self.config.timeout)), remaining)
        return {**overrides, "timeout": max(timeout, 0.1)}

    def _failed(self, exc: Exception) -> ProviderError:
        """A failed call as the ProviderError it becomes: provider, model, why; no secret."""
        self.usage.failures += 1
        reason = redact_environment(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return ProviderError(
            f"provider {self.config.name} model {self.config.model} failed after "
            f"{counted(self.config.num_retries, 'retry', 'retries')} and "
            f"{counted(len(self.config.fallbacks), 'fallback')}: "
            f"{type(exc).__name__}: {reason[:300]}"
        )

    def _priced(self, response: Any, started: float) -> Completion:
        """A litellm response as a Completion, with the price litellm gave it."""
        latency = time.perf_counter() - started
        choice = response.choices[0]
        text = (choice.message.content or "") if choice.message else ""
        calls = _tool_calls(getattr(choice.message, "tool_calls", None) if choice.message else None)
        usage = getattr(response, "usage", None)
        # litellm has already priced the call (local cost map); pricing it again costs ~2 ms.
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if cost is None:
            try:
                cost = import_litellm().completion_cost(completion_response=response)
            except Exception:  # noqa: BLE001 - unknown models have no price: cost 0, not an error
                cost = 0.0
        cost = float(cost or 0.0)
        completion = Completion(
            text=text,
            model=str(getattr(response, "model", self.config.model)),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost=cost,
            latency_s=latency,
            tool_calls=calls,
            finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        )
        self.usage.add(completion)
        return completion

    def _counted(self, answer: dict[str, Any], started: float) -> Completion:
        """A direct call's answer as a Completion (a self-hosted server's calls cost 0)."""
        choice = answer["choices"][0]
        message = choice.get("message") or {}
        usage = answer.get("usage") or {}
        completion = Completion(
            text=message.get("content") or "",
            model=str(answer.get("model") or self.config.model),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cost=0.0,
            latency_s=time.perf_counter() - started,
            tool_calls=tool_calls_of(message),
            finish_reason=str(choice.get("finish_reason") or ""),
        )
        self.usage.add(completion)
        return completion


PING = [{"role": "user", "content": "Reply with the single word OK."}]


def check_provider(config: ProviderConfig, timeout: float = 30.0) -> Completion:
    """One tiny completion, no retries, a short timeout: does the provider answer at all? (A
    build asks before spending its budget; `wmh providers verify` asks for every model.)"""
    quick = replace(config, num_retries=0, fallbacks=[], timeout=min(config.timeout, timeout))
    return LLMProvider(quick).complete(PING, max_tokens=5)

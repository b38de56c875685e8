"""provider=openai_compatible calls the server directly (no litellm on the call path), with the
same request, answer, retries and error names; with fallbacks, litellm routes the call."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh.config.schema import ProviderConfig
from wmh.errors import ProviderError
from wmh.providers.llm import LLMProvider


def _config(fake: FakeLLM, **changes: object) -> ProviderConfig:
    config = ProviderConfig(
        name="openai_compatible",
        model="openai/served-name",
        api_base=fake.api_base,
        num_retries=0,
        timeout=5,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def test_a_direct_call_sends_the_served_name_and_reads_text_tools_and_tokens(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script = [Reply("hello", prompt_tokens=40, completion_tokens=3)]
    fake_llm.script.append(Reply("", tool_calls=[("get_user", {"user_id": 7})]))
    provider = LLMProvider(_config(fake_llm, max_tokens=64))
    said = provider.complete([{"role": "user", "content": "hi"}], stop=["</observation>"])
    assert said.text == "hello" and (said.prompt_tokens, said.completion_tokens) == (40, 3)
    sent = fake_llm.requests[-1]
    assert sent["model"] == "served-name" and sent["max_tokens"] == 64
    assert sent["stop"] == ["</observation>"] and sent["messages"][0]["content"] == "hi"
    assert not {"timeout", "num_retries", "api_base", "api_key"} & set(sent)
    tools = [{"type": "function", "function": {"name": "get_user", "parameters": {}}}]
    called = provider.complete([{"role": "user", "content": "act"}], tools=tools)
    assert called.tool_calls == (("get_user", {"user_id": 7}),)
    assert fake_llm.requests[-1]["tools"] == tools
    assert provider.usage.calls == 2 and provider.usage.cost == 0.0


def test_server_errors_are_retried_then_named_as_litellm_names_them(fake_llm: FakeLLM) -> None:
    fake_llm.script = [Reply("busy", status=503), Reply("ok")]
    assert LLMProvider(_config(fake_llm, num_retries=1)).complete([]).text == "ok"
    assert len(fake_llm.requests) == 2
    fake_llm.default = Reply("slow down", status=429)
    with pytest.raises(ProviderError, match="RateLimitError: HTTP 429"):
        LLMProvider(_config(fake_llm)).complete([])
    fake_llm.default = Reply("no", status=401)
    with pytest.raises(ProviderError, match="AuthenticationError") as raised:
        LLMProvider(_config(fake_llm, num_retries=2)).complete([])
    assert "after 2 retries" in str(raised.value)
    assert len(fake_llm.requests) == 2 + 1 + 1  # a 401 is not retried
    fake_llm.default = Reply("late", delay_s=2)
    with pytest.raises(ProviderError, match="Timeout"):
        LLMProvider(_config(fake_llm, timeout=0.5)).complete([])


CALL_WITHOUT_LITELLM = """
import sys
from wmh.config.schema import ProviderConfig
from wmh.providers.llm import LLMProvider
config = ProviderConfig(name="openai_compatible", model="openai/m", api_base=sys.argv[1],
                        num_retries=0, fallbacks=sys.argv[2:])
print(LLMProvider(config).complete([{"role": "user", "content": "x"}]).text)
print("litellm" in sys.modules)
"""


def test_litellm_stays_off_the_call_path_unless_fallbacks_need_it(fake_llm: FakeLLM) -> None:
    fake_llm.default = Reply("answered")
    for fallbacks, imported in (([], "False"), (["openai/other"], "True")):
        done = subprocess.run(
            [sys.executable, "-c", CALL_WITHOUT_LITELLM, fake_llm.api_base, *fallbacks],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["answered", imported]


def test_a_frequency_penalty_is_sent_only_when_set(fake_llm: FakeLLM) -> None:
    fake_llm.script = [Reply("a"), Reply("b")]
    LLMProvider(_config(fake_llm)).complete([{"role": "user", "content": "hi"}])
    assert "frequency_penalty" not in fake_llm.requests[-1]
    LLMProvider(_config(fake_llm, frequency_penalty=0.5)).complete([])
    assert fake_llm.requests[-1]["frequency_penalty"] == 0.5


@pytest.mark.parametrize("fallbacks", [[], ["openai/other"]], ids=["direct", "litellm"])
def test_a_response_format_is_sent_and_why_the_server_stopped_is_read(
    fake_llm: FakeLLM, fallbacks: list[str]
) -> None:
    fake_llm.script = [Reply('{"a": "x'), Reply("done", finish_reason="length")]
    provider = LLMProvider(_config(fake_llm, fallbacks=fallbacks))
    shape = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    first = provider.complete([{"role": "user", "content": "hi"}], response_format=shape)
    assert fake_llm.requests[-1]["response_format"] == shape and first.finish_reason == "stop"
    hi = [{"role": "user", "content": "hi"}]
    cut = asyncio.run(provider.acomplete(hi, response_format=shape))
    assert fake_llm.requests[-1]["response_format"] == shape
    assert cut.finish_reason == "length" and cut.text == "done"


@pytest.mark.parametrize("fallbacks", [[], ["openai/other"]], ids=["direct", "litellm"])
def test_an_awaited_call_sends_and_reads_what_a_blocking_one_does(
    fake_llm: FakeLLM, fallbacks: list[str]
) -> None:
    """The server's LLM steps await `acomplete` on the event loop: the same request, answer,
    usage and error names as `complete`, whichever path the call takes."""
    fake_llm.script = [Reply("hello", prompt_tokens=40, completion_tokens=3)]
    provider = LLMProvider(_config(fake_llm, max_tokens=64, fallbacks=fallbacks))
    said = asyncio.run(provider.acomplete([{"role": "user", "content": "hi"}], stop=["</o>"]))
    assert said.text == "hello" and (said.prompt_tokens, said.completion_tokens) == (40, 3)
    sent = fake_llm.requests[-1]
    assert sent["max_tokens"] == 64 and sent["stop"] == ["</o>"]
    assert sent["messages"][0]["content"] == "hi"
    assert provider.usage.calls == 1 and provider.usage.prompt_tokens == 40
    fake_llm.default = Reply("no", status=401)
    with pytest.raises(ProviderError, match="AuthenticationError"):
        asyncio.run(provider.acomplete([{"role": "user", "content": "x"}]))
    assert provider.usage.failures == 1 and provider.usage.calls == 1


def test_an_awaited_direct_call_is_retried_and_timed_out_as_a_blocking_one(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script = [Reply("busy", status=503), Reply("ok")]
    provider = LLMProvider(_config(fake_llm, num_retries=1))
    assert asyncio.run(provider.acomplete([])).text == "ok"
    assert len(fake_llm.requests) == 2
    fake_llm.default = Reply("late", delay_s=2)
    with pytest.raises(ProviderError, match="Timeout"):
        asyncio.run(LLMProvider(_config(fake_llm, timeout=0.5)).acomplete([]))


@pytest.mark.parametrize("fallbacks", [[], ["openai/other"]], ids=["direct", "litellm"])
def test_the_configured_temperature_is_sent(fake_llm: FakeLLM, fallbacks: list[str]) -> None:
    fake_llm.script = [Reply("a"), Reply("b")]
    LLMProvider(_config(fake_llm, temperature=0.35, fallbacks=fallbacks)).complete([])
    assert fake_llm.requests[-1]["temperature"] == 0.35
    LLMProvider(_config(fake_llm, temperature=0.0, fallbacks=fallbacks)).complete([])
    assert fake_llm.requests[-1]["temperature"] == 0.0


def test_a_timeout_or_conflict_answer_is_retried_and_an_answer_without_choices_is_named(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script = [Reply("slow", status=408), Reply("busy", status=409), Reply("ok")]
    assert LLMProvider(_config(fake_llm, num_retries=2)).complete([]).text == "ok"
    assert len(fake_llm.requests) == 3
    fake_llm.script = [Reply(raw=b'{"choices": []}', status=200)]
    with pytest.raises(ProviderError, match="BadRequestError: the server's answer has no choices"):
        LLMProvider(_config(fake_llm)).complete([])

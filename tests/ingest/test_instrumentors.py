"""Spans from the instrumentation libraries themselves ingest as they are: the OpenAI SDK,
instrumented by OpenInference's and by OpenLLMetry's instrumentor, drives a tool-calling loop
against the scripted OpenAI-compatible server, and the recorded trace gives the tool step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.fake_llm import FakeLLM, FakeLLMServer, Reply
from tests.otel_agent import OtlpJsonFile
from wmh.ingest.reader import read_traces

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_user",
            "parameters": {"type": "object", "properties": {"user_id": {"type": "integer"}}},
        },
    }
]
RESULT = {"user_id": 7, "city": "Lyon"}


def _openinference() -> object:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


def _openllmetry() -> object:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


@pytest.mark.parametrize(
    "make", [_openinference, _openllmetry], ids=["openinference", "openllmetry"]
)
def test_an_instrumented_openai_agent_loop_gives_its_tool_step(
    tmp_path: Path, make: Callable[[], object]
) -> None:
    out = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFile(out)))
    instrumentor = make()
    instrumentor.instrument(tracer_provider=provider)  # type: ignore[attr-defined]
    fake = FakeLLM(
        script=[Reply(tool_calls=[("get_user", {"user_id": 7})]), Reply("User 7 lives in Lyon.")]
    )
    try:
        with (
            FakeLLMServer(fake) as llm,
            provider.get_tracer("agent").start_as_current_span("agent"),
        ):
            client = openai.OpenAI(base_url=llm.api_base, api_key="not-a-key")
            messages: list = [{"role": "user", "content": "Where does user 7 live?"}]
            first = client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, tools=TOOLS
            )
            call = first.choices[0].message.tool_calls[0]
            messages += [
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(RESULT)},
            ]
            client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    finally:
        instrumentor.uninstrument()  # type: ignore[attr-defined]
        provider.shutdown()

    result = read_traces([out])
    report = result.report
    assert (report.traces, report.steps, report.spans) == (1, 1, 3)
    assert report.unanswered_tool_calls == 0 and report.skipped_spans == 1  # the bare agent span
    step = result.traces[0].steps[0]
    assert step.task == "Where does user 7 live?"
    assert (step.action.name, step.action.arguments) == ("get_user", {"user_id": 7})
    assert json.loads(step.observation.content) == RESULT and not step.observation.is_error

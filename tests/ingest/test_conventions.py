"""OpenInference and OpenLLMetry spans ingest into the same steps as the GenAI conventions.

The fixtures are written here from the published conventions: an agent asks for a tool in its
LLM span, the tool span records the call and its result, and the next LLM span sees the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmh.capture.otlp_json import key_values
from wmh.ingest.reader import read_traces

TRACE = "0af7651916cd43dd8448eb211c80319c"
ARGS = {"user_id": 7}
RESULT = {"user_id": 7, "name": "Ada", "city": "Lyon"}


def _span(span_id: str, name: str, start: int, attrs: dict, parent: str = "a000000000000001"):
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(1_700_000_000_000_000_000 + start),
        "endTimeUnixNano": str(1_700_000_000_000_000_000 + start + 5),
        "attributes": key_values(attrs),
    }


def openinference() -> list[dict]:
    p, c = "llm.input_messages", "llm.output_messages"
    return [
        _span("a000000000000001", "agent", 0, {"openinference.span.kind": "AGENT"}, parent=""),
        _span(
            "a000000000000002",
            "ChatCompletion",
            10,
            {
                "openinference.span.kind": "LLM",
                f"{p}.0.message.role": "user",
                f"{p}.0.message.content": "Where does user 7 live?",
                f"{c}.0.message.role": "assistant",
                f"{c}.0.message.tool_calls.0.tool_call.id": "call_1",
                f"{c}.0.message.tool_calls.0.tool_call.function.name": "get_user",
                f"{c}.0.message.tool_calls.0.tool_call.function.arguments": json.dumps(ARGS),
            },
        ),
        _span(
            "a000000000000003",
            "get_user",
            20,
            {
                "openinference.span.kind": "TOOL",
                "tool.name": "get_user",
                "input.value": json.dumps(ARGS),
                "output.value": json.dumps(RESULT),
            },
        ),
        _span(
            "a000000000000004",
            "ChatCompletion",
            30,
            {
                "openinference.span.kind": "LLM",
                f"{p}.0.message.role": "user",
                f"{p}.0.message.content": "Where does user 7 live?",
                f"{p}.1.message.role": "assistant",
                f"{p}.1.message.tool_calls.0.tool_call.id": "call_1",
                f"{p}.1.message.tool_calls.0.tool_call.function.name": "get_user",
                f"{p}.1.message.tool_calls.0.tool_call.function.arguments": json.dumps(ARGS),
                f"{p}.2.message.role": "tool",
                f"{p}.2.message.tool_call_id": "call_1",
                f"{p}.2.message.content": json.dumps(RESULT),
                f"{c}.0.message.role": "assistant",
                f"{c}.0.message.content": "User 7 lives in Lyon.",
            },
        ),
    ]


def openllmetry() -> list[dict]:
    p, c = "gen_ai.prompt", "gen_ai.completion"
    return [
        _span("a000000000000001", "support.workflow", 0, {"traceloop.span.kind": "workflow"}, ""),
        _span(
            "a000000000000002",
            "openai.chat",
            10,
            {
                f"{p}.0.role": "user",
                f"{p}.0.content": "Where does user 7 live?",
                f"{c}.0.role": "assistant",
                f"{c}.0.tool_calls.0.id": "call_1",
                f"{c}.0.tool_calls.0.name": "get_user",
                f"{c}.0.tool_calls.0.arguments": json.dumps(ARGS),
            },
        ),
        _span(
            "a000000000000003",
            "get_user.tool",
            20,
            {
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": "get_user",
                "traceloop.entity.input": json.dumps({"args": [], "kwargs": ARGS}),
                "traceloop.entity.output": json.dumps(json.dumps(RESULT)),
            },
        ),
        _span(
            "a000000000000004",
            "openai.chat",
            30,
            {
                f"{p}.0.role": "user",
                f"{p}.0.content": "Where does user 7 live?",
                f"{p}.1.role": "assistant",
                f"{p}.1.tool_calls.0.id": "call_1",
                f"{p}.1.tool_calls.0.name": "get_user",
                f"{p}.1.tool_calls.0.arguments": json.dumps(ARGS),
                f"{p}.2.role": "tool",
                f"{p}.2.tool_call_id": "call_1",
                f"{p}.2.content": json.dumps(RESULT),
                f"{c}.0.role": "assistant",
                f"{c}.0.content": "User 7 lives in Lyon.",
            },
        ),
    ]


@pytest.mark.parametrize("spans", [openinference, openllmetry])
def test_each_convention_gives_the_tool_step(tmp_path: Path, spans) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in spans()))
    result = read_traces([path])
    (trace,) = result.traces
    (step,) = trace.steps
    assert step.action.name == "get_user" and step.action.arguments == ARGS
    assert json.loads(step.observation.content) == RESULT and not step.observation.is_error
    assert step.task == "Where does user 7 live?"
    assert result.report.skipped_spans == 0


@pytest.mark.parametrize("spans", [openinference, openllmetry])
def test_a_failed_tool_span_without_output_is_an_error_step_saying_its_status(
    tmp_path: Path, spans
) -> None:
    """A tool span that failed before returning (status ERROR, no output) is the step's
    observation: an error whose text is the span's status message."""
    recorded = spans()
    tool = recorded[2]
    tool["attributes"] = [
        kv
        for kv in tool["attributes"]
        if kv["key"] not in ("output.value", "traceloop.entity.output")
    ]
    tool["status"] = {"code": 2, "message": "TimeoutError: no answer in 30 s"}
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in recorded[:3]))
    (trace,) = read_traces([path]).traces
    (step,) = trace.steps
    assert step.action.name == "get_user" and step.action.arguments == ARGS
    assert step.observation.is_error
    assert step.observation.content == "TimeoutError: no answer in 30 s"


@pytest.mark.parametrize(
    ("recorded", "arguments"),
    [
        ({"args": [], "kwargs": ARGS}, ARGS),
        ({"inputs": ARGS}, ARGS),  # OpenLLMetry's LangChain tools record "inputs"
        (ARGS, ARGS),  # the arguments themselves
    ],
)
def test_openllmetry_tool_inputs_are_read_from_kwargs_or_inputs(
    tmp_path: Path, recorded: dict, arguments: dict
) -> None:
    spans = openllmetry()
    spans[2]["attributes"] = [
        kv
        if kv["key"] != "traceloop.entity.input"
        else key_values({"traceloop.entity.input": json.dumps(recorded)})[0]
        for kv in spans[2]["attributes"]
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in spans))
    (trace,) = read_traces([path]).traces
    (step,) = trace.steps
    assert (step.action.name, step.action.arguments) == ("get_user", arguments)


@pytest.mark.parametrize("cut_in", ["later_history", "first_request"])
def test_a_call_whose_arguments_a_span_cut_short_stays_one_step(
    tmp_path: Path, cut_in: str
) -> None:
    """An exporter's attribute limit cuts the arguments one LLM span records. Cut in a later
    span's history, that copy of the call (its id answered, its arguments no longer equal) was
    taken for another call under a reused id, and the tool's answer made a second step of it;
    cut in the request, the step kept the cut text as its arguments."""
    long_args = {"user_id": 7, "note": "call me après six " * 20}
    whole = json.dumps(long_args)
    cut = whole[:128]  # OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=128
    spans = openinference()
    first, later = (whole, cut) if cut_in == "later_history" else (cut, whole)
    for span, arguments in ((spans[1], first), (spans[3], later)):
        for attribute in span["attributes"]:
            if attribute["key"].endswith("function.arguments"):
                attribute["value"] = {"stringValue": arguments}
    for attribute in spans[2]["attributes"]:
        if attribute["key"] == "input.value":
            attribute["value"] = {"stringValue": whole}
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    read = read_traces([path])
    (trace,) = read.traces
    calls = [(s.action.name, s.action.arguments, s.observation.content) for s in trace.steps]
    assert calls[:1] == [("get_user", long_args, json.dumps(RESULT))]
    assert [c for c in calls if c[0] == "get_user"] == calls[:1], calls

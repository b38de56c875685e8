from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmh.core.types import ActionKind
from wmh.ingest import read_traces


def test_chat_and_execute_tool_spans_merge_into_one_step_per_call(data_dir: Path) -> None:
    result = read_traces([data_dir / "genai_export.json"])
    (trace,) = result.traces
    kinds = [(s.action.kind, s.action.name) for s in trace.steps]
    assert kinds == [
        (ActionKind.TOOL_CALL, "search_products"),
        (ActionKind.TOOL_CALL, "add_to_cart"),
        (ActionKind.MESSAGE, ""),
        (ActionKind.TOOL_CALL, "checkout"),
    ]
    assert trace.task == "Add the blue mug to my cart and check out."
    assert trace.steps[1].action.arguments == {"sku": "M7", "qty": 1}
    assert trace.steps[1].observation.content == '{"cart": ["M7"], "total": 12.5}'
    assert [s.index for s in trace.steps] == [0, 1, 2, 3]


def test_agent_message_is_answered_by_the_next_user_message(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "genai_export.json"]).traces
    message = trace.steps[2]
    assert message.action.content == "Your cart total is 12.5. Shall I check out?"
    assert message.observation.content == "Yes please."


def test_error_status_marks_the_observation_as_error(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "genai_export.json"]).traces
    assert trace.steps[3].observation.is_error
    assert not trace.steps[0].observation.is_error


def test_unknown_spans_are_skipped_and_counted(data_dir: Path) -> None:
    report = read_traces([data_dir / "genai_export.json"]).report
    assert report.skipped_spans == 1
    assert report.skipped_span_names == {"HTTP GET": 1}


def test_every_skipped_span_is_counted_not_each_name_once(tmp_path: Path) -> None:
    """Three database queries, an HTTP call and a chat span that says nothing are four unknown
    spans (of three names), not three; the summary names the most frequent first."""
    path = _spans(
        tmp_path,
        ("db.query", 1, {}),
        ("db.query", 2, {}),
        ("HTTP GET", 3, {}),
        ("db.query", 4, {}),
        ("chat gpt", 5, {"gen_ai.operation.name": "chat"}),
        (
            "execute_tool lookup",
            6,
            {"gen_ai.tool.name": "lookup", "gen_ai.tool.call.result": "3 orders"},
        ),
    )
    result = read_traces([path])
    assert [s.action.name for s in result.traces[0].steps] == ["lookup"]
    report = result.report
    assert report.skipped_spans == 5
    assert report.skipped_span_names == {"db.query": 3, "HTTP GET": 1, "chat gpt": 1}
    assert "5 unknown spans skipped (db.query x3, HTTP GET x1, chat gpt x1)" in report.summary()


def test_legacy_flat_attributes_give_steps_and_the_task(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "legacy_flat.jsonl"]).traces
    assert trace.task == "What is the weather in Paris?"
    assert [(s.action.name, s.action.arguments, s.observation.content) for s in trace.steps] == [
        ("get_weather", {"city": "Paris"}, "rainy, 14C")
    ]


def test_announced_call_pairs_with_the_following_execute_tool_result(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "announce_then_execute.jsonl"]).traces
    assert [(s.action.arguments["order_id"], s.observation.content) for s in trace.steps] == [
        (42, '{"order_id": 42, "status": "shipped"}'),
        (43, '{"order_id": 43, "status": "pending"}'),
    ]


def test_kvlist_arguments_and_integer_call_ids_are_accepted(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "single_spans.jsonl"]).traces
    assert trace.steps[0].action.arguments == {"command": "ls"}
    assert trace.steps[0].observation.metadata["tool_call_id"] == "100"


def test_openai_style_messages_in_genai_attributes(tmp_path: Path) -> None:
    import json

    messages_in = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "ping", "arguments": '{"n": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "pong 1"},
    ]
    span = {
        "traceId": "aa",
        "spanId": "01",
        "name": "chat",
        "startTimeUnixNano": "5",
        "attributes": [
            {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(messages_in)}}
        ],
    }
    path = tmp_path / "openai.jsonl"
    path.write_text(json.dumps(span) + "\n")
    (trace,) = read_traces([path]).traces
    assert trace.steps[0].action.name == "ping"
    assert trace.steps[0].observation.content == "pong 1"


def test_final_answers_without_a_reply_are_counted_not_dropped_silently(data_dir: Path) -> None:
    report = read_traces([data_dir / "genai_export.json"]).report
    assert report.unanswered_messages == 1
    assert "1 agent message without a user reply" in report.summary()


def _span(trace: int, n: int, attributes: dict[str, object]) -> dict[str, object]:
    return {
        "traceId": f"{trace:032x}", "spanId": f"{n:016x}", "name": str(attributes["name"]),
        "startTimeUnixNano": str(100 * n), "endTimeUnixNano": str(100 * n + 50),
        "attributes": [
            {"key": k, "value": {"stringValue": v if isinstance(v, str) else json.dumps(v)}}
            for k, v in attributes.items() if k != "name"
        ],
    }  # fmt: skip


def _assistant_call(call_id: str, user: str) -> dict[str, object]:
    part = {"type": "tool_call", "id": call_id, "name": "lookup", "arguments": {"id": user}}
    return {"role": "assistant", "parts": [part]}


def _tool_answer(call_id: str, text: str) -> dict[str, object]:
    return {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": call_id, "response": text}],
    }


@pytest.mark.parametrize("shape", ["execute_tool", "chat_and_execute_tool", "chat_only"])
def test_calls_that_reuse_one_call_id_stay_calls_of_their_own(tmp_path: Path, shape: str) -> None:
    """Servers that number calls per response give every turn's call the id `call_0`: merged
    by id, every call after a trace's first was lost without a count."""
    users = ["u1", "u2", "u3"]
    spans, history = [], [{"role": "user", "parts": [{"type": "text", "content": "look up"}]}]
    for turn, user in enumerate(users):
        if shape != "execute_tool":  # the model asks for the call
            spans.append(_span(1, 10 * turn + 1, {
                "name": "chat m", "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": history, "gen_ai.output.messages": [
                    _assistant_call("call_0", user)],
            }))  # fmt: skip
            history = [*history, _assistant_call("call_0", user)]
        if shape != "chat_only":
            spans.append(_span(1, 10 * turn + 2, {
                "name": "execute_tool lookup", "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup", "gen_ai.tool.call.id": "call_0",
                "gen_ai.tool.call.arguments": {"id": user}, "gen_ai.tool.call.result": f"{user}!",
            }))  # fmt: skip
        history = [*history, _tool_answer("call_0", f"{user}!")]
    if shape != "execute_tool":  # the last answer reaches the model in its next input
        final = {"role": "assistant", "parts": [{"type": "text", "content": "done"}]}
        spans.append(_span(1, 99, {
            "name": "chat m", "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": history, "gen_ai.output.messages": [final],
        }))  # fmt: skip
    file = tmp_path / "reused.jsonl"
    file.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    (trace,) = read_traces([file]).traces
    calls = [s for s in trace.steps if s.action.kind is ActionKind.TOOL_CALL]
    assert [(s.action.arguments, s.observation.content) for s in calls] == [
        ({"id": u}, f"{u}!") for u in users
    ]


def _spans(tmp_path: Path, *spans: tuple[str, int, dict]) -> Path:
    """JSON lines of one trace's spans (name, start, attributes as a plain object)."""
    path = tmp_path / "spans.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "traceId": "ab",
                    "spanId": f"s{i}",
                    "name": name,
                    "startTimeUnixNano": str(start),
                    "attributes": attributes,
                }
            )
            + "\n"
            for i, (name, start, attributes) in enumerate(spans)
        )
    )
    return path


def test_an_execute_tool_span_without_a_tool_name_attribute_is_named_by_its_span_name(
    tmp_path: Path,
) -> None:
    """`execute_tool lookup` names the tool when `gen_ai.tool.name` is not set (a call without
    a name would be no step)."""
    path = _spans(tmp_path, ("execute_tool lookup", 1, {"gen_ai.tool.call.result": "3 orders"}))
    [trace] = read_traces([path]).traces
    assert [(s.action.name, s.observation.content) for s in trace.steps] == [("lookup", "3 orders")]


def test_a_chat_span_naming_a_tool_keeps_its_messages(tmp_path: Path) -> None:
    """A flat chat span with the prompt, the tool it called and the tool's message is a chat
    span: its prompt is the task (read as a tool span alone, the task was lost)."""
    path = _spans(
        tmp_path,
        (
            "openai.chat",
            1,
            {
                "gen_ai.prompt": '[{"role": "user", "content": "Weather in Oslo?"}]',
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
                "gen_ai.tool.message": "rain",
            },
        ),
    )
    [trace] = read_traces([path]).traces
    assert trace.task == "Weather in Oslo?"
    assert [(s.action.name, s.action.arguments, s.observation.content) for s in trace.steps] == [
        ("get_weather", {"city": "Oslo"}, "rain")
    ]


def test_a_tool_message_names_its_call_by_tool_call_id(tmp_path: Path) -> None:
    """Two calls announced in one answer, their tool messages read in the other order: each
    message's `tool_call_id` pairs it with its own call."""
    calls = [
        {"id": f"call_{n}", "type": "function",
         "function": {"name": "lookup", "arguments": json.dumps({"order": n})}}
        for n in (1, 2)
    ]  # fmt: skip
    completion = [{"role": "assistant", "content": None, "tool_calls": calls}]
    path = _spans(
        tmp_path,
        ("openai.chat", 1, {"gen_ai.completion": json.dumps(completion)}),
        ("tool", 5, {"gen_ai.tool.message": '{"tool_call_id": "call_2", "content": "order 2"}'}),
        ("tool", 6, {"gen_ai.tool.message": '{"tool_call_id": "call_1", "content": "order 1"}'}),
    )
    [trace] = read_traces([path]).traces
    assert [(s.action.arguments, s.observation.content) for s in trace.steps] == [
        ({"order": 1}, "order 1"),
        ({"order": 2}, "order 2"),
    ]


def test_arguments_that_are_not_a_json_object_are_kept_and_counted(tmp_path: Path) -> None:
    """Arguments cut short by an exporter ('{"path": "/sr'), plain text and a JSON list are
    kept as {"input": ...} so no call is lost, and counted in the ingest summary (they were
    folded in silently: a model trained on them learns from text a user never sees named)."""

    def tool(i: int, arguments: str) -> tuple[str, int, dict]:
        attributes = {
            "gen_ai.tool.name": "read",
            "gen_ai.tool.call.id": f"c{i}",
            "gen_ai.tool.call.arguments": arguments,
            "gen_ai.tool.call.result": f"r{i}",
        }
        return ("execute_tool read", i, attributes)

    path = _spans(
        tmp_path,
        tool(1, '{"path": "/src/a.py"}'),
        tool(2, '{"path": "/sr'),
        tool(3, "ls -la"),
        tool(4, '["a", "b"]'),
    )
    result = read_traces([path])
    assert [s.action.arguments for s in result.traces[0].steps] == [
        {"path": "/src/a.py"},
        {"input": '{"path": "/sr'},
        {"input": "ls -la"},
        {"input": ["a", "b"]},
    ]
    report = result.report
    assert (report.wrapped_arguments, report.broken_arguments) == (3, 1)
    assert (
        '3 tool calls with arguments that are not a JSON object kept as {"input": ...}, '
        "1 of them JSON that does not parse (cut short?)"
    ) in report.summary()


def _history_span(tmp_path: Path, messages: list[dict]) -> Path:
    """A file of one chat span whose input messages (OpenAI's shape) hold the whole history."""
    span = {
        "traceId": "aa",
        "spanId": "01",
        "name": "chat",
        "startTimeUnixNano": "5",
        "attributes": {"gen_ai.input.messages": json.dumps(messages)},
    }
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(span) + "\n")
    return path


@pytest.mark.parametrize("name", ["", None, "  "])
def test_a_tool_call_without_a_name_is_skipped_and_counted(tmp_path: Path, name: object) -> None:
    """A recorded call that names no tool can be no step: it stopped the build with a
    traceback (pydantic's "a tool_call action needs a non-empty 'name'", no file named)."""
    call = {"id": "c2", "function": {"arguments": "{}"}}
    if name is not None:
        call["function"]["name"] = name
    messages_in = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "ping", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "pong"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c2", "content": "what?"},
    ]
    result = read_traces([_history_span(tmp_path, messages_in)])
    assert [(s.action.name, s.observation.content) for s in result.traces[0].steps] == [
        ("ping", "pong")
    ]
    assert result.report.nameless_tool_calls == 1
    assert "1 tool call without a tool name skipped" in result.report.summary()


def test_a_corpus_whose_only_call_names_no_tool_says_so(tmp_path: Path) -> None:
    """With every call skipped for want of a name, the error named neither them nor why."""
    from wmh.errors import EmptyCorpusError

    messages_in = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c2", "function": {"arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "what?"},
    ]
    with pytest.raises(EmptyCorpusError) as raised:
        read_traces([_history_span(tmp_path, messages_in)])
    assert "1 tool call without a tool name skipped" in str(raised.value)

"""How the spans of one trace become its steps (`wmh.ingest.assemble`): calls merged across the
chat output, the tool span and the next chat input; messages deduplicated across the growing
(or front-truncated) chat histories; steps ordered by when their action first appeared."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ingest.test_genai import _span as genai_span
from wmh.core.types import ActionKind, Step
from wmh.ingest.reader import read_traces


def _span(n: int, attributes: dict[str, object]) -> dict[str, object]:
    """Span `n` of trace 1: it starts at 100 n, ends 50 later."""
    return genai_span(1, n, attributes)


def _sid(n: int) -> str:
    return f"{n:016x}"


def _chat(n: int, inputs: list[dict], outputs: list[dict]) -> dict[str, object]:
    return _span(n, {
        "name": "chat m", "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": inputs, "gen_ai.output.messages": outputs,
    })  # fmt: skip


def _tool(n: int, name: str, arguments: dict, result: str | None = None, **more: str) -> dict:
    attributes: dict[str, object] = {
        "name": f"execute_tool {name}", "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name, "gen_ai.tool.call.arguments": arguments, **more,
    }  # fmt: skip
    if result is not None:
        attributes["gen_ai.tool.call.result"] = result
    return _span(n, attributes)


def _text(role: str, text: str) -> dict[str, object]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def _calls(*calls: tuple[str | None, str, dict]) -> dict[str, object]:
    """An assistant message asking for these (id or None, name, arguments) calls."""
    parts = []
    for call_id, name, arguments in calls:
        part: dict[str, object] = {"type": "tool_call", "name": name, "arguments": arguments}
        if call_id is not None:
            part["id"] = call_id
        parts.append(part)
    return {"role": "assistant", "parts": parts}


def _answer(call_id: str | None, text: str) -> dict[str, object]:
    part: dict[str, object] = {"type": "tool_call_response", "response": text}
    if call_id is not None:
        part["id"] = call_id
    return {"role": "tool", "parts": [part]}


def _read(tmp_path: Path, spans: list[dict]) -> tuple[list[Step], int, int]:
    """The one trace's steps, and the report's unanswered calls and messages."""
    file = tmp_path / "spans.jsonl"
    file.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    read = read_traces([file])
    (trace,) = read.traces
    return trace.steps, read.report.unanswered_tool_calls, read.report.unanswered_messages


def _tool_steps(steps: list[Step]) -> list[tuple[str, dict, str, bool]]:
    return [
        (s.action.name, s.action.arguments, s.observation.content, s.observation.is_error)
        for s in steps
        if s.action.kind is ActionKind.TOOL_CALL
    ]


def _message_steps(steps: list[Step]) -> list[tuple[str, str]]:
    return [
        (s.action.content, s.observation.content)
        for s in steps
        if s.action.kind is ActionKind.MESSAGE
    ]


def test_a_step_is_ordered_by_when_its_action_first_appeared(tmp_path: Path) -> None:
    """The model asks for `a` then `b` in one response; the tools run `b` first. The steps keep
    the order the calls were asked in (a bug ordering by the last appearance would put `b`
    first)."""
    user = _text("user", "look both up")
    asked = _calls(("call_a", "lookup", {"id": "a"}), ("call_b", "lookup", {"id": "b"}))
    spans = [
        _chat(1, [user], [asked]),
        _tool(2, "lookup", {"id": "b"}, "b!", **{"gen_ai.tool.call.id": "call_b"}),
        _tool(3, "lookup", {"id": "a"}, "a!", **{"gen_ai.tool.call.id": "call_a"}),
        _chat(4, [user, asked, _answer("call_a", "a!"), _answer("call_b", "b!")],
              [_text("assistant", "done")]),
    ]  # fmt: skip
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [
        ("lookup", {"id": "a"}, "a!", False),
        ("lookup", {"id": "b"}, "b!", False),
    ]
    assert [s.index for s in steps] == [0, 1] and unanswered == 0
    assert steps[0].raw_span_ids == [_sid(1), _sid(3), _sid(4)]
    assert steps[1].raw_span_ids == [_sid(1), _sid(2), _sid(4)]


def test_an_agent_message_is_answered_only_by_the_next_user_message(tmp_path: Path) -> None:
    """An agent message followed by another agent message got no reply from the user: it is no
    step (a bug taking the next message of any role would make "Let me check." answered by the
    agent's own "Done.")."""
    user = _text("user", "buy a mug")
    thinking, done = _text("assistant", "Let me check."), _text("assistant", "Done.")
    spans = [
        _chat(1, [user], [thinking]),
        _chat(2, [user, thinking], [done]),
        _chat(3, [user, thinking, done, _text("user", "thanks")], [_text("assistant", "Bye.")]),
    ]
    steps, _, unanswered = _read(tmp_path, spans)
    assert _message_steps(steps) == [("Done.", "thanks")]
    assert unanswered == 2  # "Let me check." and "Bye."


def test_an_output_repeating_the_last_message_is_not_said_twice(tmp_path: Path) -> None:
    """The agent span's output echoes the chat's last answer: it is one message, answered by the
    user's "Blue" (a bug adding it again would break the next chat input's overlap and read the
    history twice: the question answered by the task)."""
    user, question = _text("user", "buy a mug"), _text("assistant", "Which colour?")
    spans = [
        _chat(1, [user], [question]),
        _span(2, {"name": "invoke_agent shop", "gen_ai.operation.name": "invoke_agent",
                  "gen_ai.output.messages": [question]}),
        _chat(3, [user, question, _text("user", "Blue")], [_text("assistant", "Done.")]),
    ]  # fmt: skip
    steps, _, unanswered = _read(tmp_path, spans)
    assert _message_steps(steps) == [("Which colour?", "Blue")]
    assert unanswered == 1  # "Done."


def test_a_history_truncated_at_the_front_is_not_read_again(tmp_path: Path) -> None:
    """The second chat's input dropped the task (a sliding window): the question it starts with
    is the one the transcript already ends with, not a new one (a bug would say it twice: the
    first question unanswered, the step taken from the second chat's copy)."""
    user, question = _text("user", "buy a mug"), _text("assistant", "Which colour?")
    spans = [
        _chat(1, [user], [question]),
        _chat(2, [question, _text("user", "Blue")], [_text("assistant", "Done.")]),
    ]
    steps, _, unanswered = _read(tmp_path, spans)
    assert _message_steps(steps) == [("Which colour?", "Blue")]
    assert steps[0].raw_span_ids == [_sid(1), _sid(2)]
    assert unanswered == 1  # "Done."
    assert steps[0].task == "buy a mug"


def test_id_less_calls_of_one_response_stay_calls_of_their_own(tmp_path: Path) -> None:
    """One response asks `ping` twice, without call ids: two calls, answered in order (a bug
    merging the second into the first, both seen in the same span, would lose one)."""
    user = _text("user", "ping twice")
    asked = _calls((None, "ping", {}), (None, "ping", {}))
    spans = [
        _chat(1, [user], [asked]),
        _chat(2, [user, asked, _answer(None, "pong 1"), _answer(None, "pong 2")],
              [_text("assistant", "done")]),
    ]  # fmt: skip
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [("ping", {}, "pong 1", False), ("ping", {}, "pong 2", False)]
    assert unanswered == 0


def test_an_id_less_tool_span_joins_the_call_with_its_arguments(tmp_path: Path) -> None:
    """The model asks `lookup a` and `lookup b` without call ids; the tool spans (no results,
    which the next chat input carries) run `b` first. Each tool span joins the call with its
    own arguments (a bug ignoring them would join both to the first call)."""
    user = _text("user", "look both up")
    asked = _calls((None, "lookup", {"id": "a"}), (None, "lookup", {"id": "b"}))
    spans = [
        _chat(1, [user], [asked]),
        _tool(2, "lookup", {"id": "b"}),
        _tool(3, "lookup", {"id": "a"}),
        _chat(4, [user, asked, _answer(None, "a!"), _answer(None, "b!")],
              [_text("assistant", "done")]),
    ]  # fmt: skip
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [
        ("lookup", {"id": "a"}, "a!", False),
        ("lookup", {"id": "b"}, "b!", False),
    ]
    assert steps[0].raw_span_ids == [_sid(1), _sid(3), _sid(4)]
    assert steps[1].raw_span_ids == [_sid(1), _sid(2), _sid(4)]
    assert unanswered == 0


def test_an_id_less_tool_span_s_result_is_its_own_call_s(tmp_path: Path) -> None:
    """The same calls, the tool spans carrying their results and running `b` first: each result
    goes to the call its span joined. It went to the first unanswered call of the tool, so `a`
    showed b's answer, `b` a's, and one call counted unanswered."""
    user = _text("user", "look both up")
    asked = _calls((None, "lookup", {"id": "a"}), (None, "lookup", {"id": "b"}))
    spans = [
        _chat(1, [user], [asked]),
        _tool(2, "lookup", {"id": "b"}, "b!"),
        _tool(3, "lookup", {"id": "a"}, "a!"),
        _chat(4, [user, asked], [_text("assistant", "done")]),
    ]
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [
        ("lookup", {"id": "a"}, "a!", False),
        ("lookup", {"id": "b"}, "b!", False),
    ]
    assert unanswered == 0


def test_an_error_seen_in_a_later_result_of_the_same_call_marks_it(tmp_path: Path) -> None:
    """The chat input carries the tool's answer as plain text; the tool span, recorded after it,
    says it failed (`error.type`): the step is an error (a bug keeping the first result's flag
    would learn the failure as a success)."""
    user = _text("user", "charge the card")
    asked = _calls(("call_1", "charge", {"card": "c1"}))
    spans = [
        _chat(1, [user], [asked]),
        _chat(2, [user, asked, _answer("call_1", "card declined")], [_text("assistant", "no")]),
        _tool(3, "charge", {"card": "c1"}, "card declined",
              **{"gen_ai.tool.call.id": "call_1", "error.type": "CardError"}),
    ]  # fmt: skip
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [("charge", {"card": "c1"}, "card declined", True)]
    assert unanswered == 0


def test_a_call_first_seen_without_its_arguments_takes_them_from_a_later_sighting(
    tmp_path: Path,
) -> None:
    """The tool span did not record the arguments; the next chat input's copy of the call (same
    id) has them: the step asks with them (a bug keeping the first sighting's would ask with
    none)."""
    user = _text("user", "find mugs")
    asked = _calls(("call_1", "search", {"q": "mug"}))
    tool = _span(1, {
        "name": "execute_tool search", "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.result": "2 mugs",
    })  # fmt: skip
    spans = [tool, _chat(2, [user, asked, _answer("call_1", "2 mugs")], [_text("assistant", "ok")])]
    steps, unanswered, _ = _read(tmp_path, spans)
    assert _tool_steps(steps) == [("search", {"q": "mug"}, "2 mugs", False)]
    assert unanswered == 0


def test_a_system_prompt_that_changes_each_call_does_not_repeat_the_history(
    tmp_path: Path,
) -> None:
    """Agents that put the time in the system prompt send another one with every call: system
    messages are left out of the transcript, so the second call's history is recognised and
    the agent's question is answered by the user's reply, not by the task said again."""
    task, question = _text("user", "Find my order"), _text("assistant", "Which order number?")
    steps, _, unanswered = _read(
        tmp_path,
        [
            _chat(1, [_text("system", "It is 10:00."), task], [question]),
            _chat(2, [_text("system", "It is 10:01."), task, question, _text("user", "7.")], []),
        ],
    )
    assert _message_steps(steps) == [("Which order number?", "7.")]
    assert unanswered == 0


def _facts(**given: object) -> tuple[object, object]:
    from wmh.ingest.genai import SpanFacts, SpanKind

    return SpanFacts(SpanKind.CHAT, **given)  # type: ignore[arg-type, return-value]


def _record(n: int) -> object:
    from wmh.ingest.otlp import SpanRecord

    return SpanRecord("t", f"s{n}", "", "x", n * 10, n * 10 + 5, {}, False, "", "p", 0)


def _assembled(*spans: object) -> list[tuple[str, str, bool]]:
    """(arguments' end, answer, error flag) of each step of the trace of these span facts."""
    from wmh.ingest.assemble import TraceAssembler

    assembler = TraceAssembler("t")
    for n, facts in enumerate(spans):
        assembler.add(_record(n), facts)  # type: ignore[arg-type]
    return [
        (json.dumps(s.action.arguments)[-14:], s.observation.content, s.observation.is_error)
        for s in assembler.finish().steps
    ]


def test_a_new_call_cut_short_is_not_taken_for_the_one_it_begins_like() -> None:
    """Arguments cut short match any call they begin like: a new request under a reused id, or
    one of two open calls sharing a long start, was merged into the other call (a step lost, an
    answer on the wrong call)."""
    from wmh.ingest.messages import Message, ToolCallPart, ToolResponsePart, as_arguments

    first = {"path": "a.py", "content": "X" * 60}
    second = {"path": "a.py", "content": "X" * 60 + "Y" * 100}
    cut = json.dumps(second)[:70]
    user = Message("user", "write the file")
    wrote = Message("assistant", tool_calls=[ToolCallPart("call_0", "write", dict(first))])
    ok = Message("tool", tool_responses=[ToolResponsePart("call_0", "ok")])
    again = Message("assistant", tool_calls=[ToolCallPart("call_0", "write", as_arguments(cut))])
    full = Message("tool", tool_responses=[ToolResponsePart("call_0", "disk full", True)])
    steps = _assembled(
        _facts(input_messages=[user], output_messages=[wrote]),
        _facts(input_messages=[user, wrote, ok], output_messages=[again]),
        _facts(input_messages=[user, wrote, ok, again, full], output_messages=[]),
    )
    assert [(answer, error) for _, answer, error in steps] == [("ok", False), ("disk full", True)]

    start = "/srv/app/" + "x" * 40
    a, b = {"path": start + "/a.py"}, {"path": start + "/ab.py"}
    calls = [ToolCallPart("", "read", dict(a)), ToolCallPart("", "read", dict(b))]
    asked = Message("assistant", tool_calls=calls)
    steps = _assembled(
        _facts(input_messages=[Message("user", "go")], output_messages=[asked]),
        _facts(
            tool_call=ToolCallPart("", "read", as_arguments(json.dumps(b)[:40])),
            tool_result=ToolResponsePart("", "B"),
        ),
        _facts(tool_call=ToolCallPart("", "read", dict(a)), tool_result=ToolResponsePart("", "A")),
    )
    # The cut recording begins like both open calls: it is merged into neither (as before
    # cut-short recordings were merged at all), and `a.py` keeps its own answer.
    assert [(end.endswith('/a.py"}'), answer) for end, answer, _ in steps] == [
        (True, "A"),
        (False, "B"),
    ], steps

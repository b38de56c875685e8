"""A later chat input repeats the conversation with a call's arguments cut short (an exporter's
attribute limit) where the transcript holds them whole, or the other way round. That copy is the
same message: the input's new messages are only those after it. Taken for a conversation of its
own, every message of the input was added again, so each later chat span duplicated the
clarifying exchanges (a step per repeat: N turns made N(N+1)/2 message steps) and the calls
(under reused ids or without ids, a second step for a call made once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest.test_conventions import _span
from wmh.core.types import ActionKind
from wmh.ingest.reader import read_traces

ROOT = "a000000000000001"
LIMIT = 128  # OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT
WRITE = {"path": "/srv/app/notes.txt", "content": "call me après six " * 20}
WHOLE = json.dumps(WRITE)
CUT = WHOLE[:LIMIT]
READ = {"path": "/srv/app/notes.txt"}


class Spans:
    """OpenInference spans of one trace, numbered in order."""

    def __init__(self) -> None:
        self.spans = [_span(ROOT, "agent", 0, {"openinference.span.kind": "AGENT"}, parent="")]

    def _add(self, name: str, attrs: dict) -> None:
        number = len(self.spans)
        self.spans.append(_span(f"b{number:015x}", name, 10 * number, attrs, parent=ROOT))

    def llm(self, inputs: list[dict], outputs: list[dict]) -> None:
        attrs = {"openinference.span.kind": "LLM"}
        attrs.update(_flat("llm.input_messages.", inputs))
        attrs.update(_flat("llm.output_messages.", outputs))
        self._add("ChatCompletion", attrs)

    def tool(self, name: str, arguments: str, output: str, call_id: str | None = None) -> None:
        attrs = {
            "openinference.span.kind": "TOOL",
            "tool.name": name,
            "input.value": arguments,
            "output.value": output,
        }
        if call_id is not None:
            attrs["tool_call.id"] = call_id
        self._add(name, attrs)

    def read(self, tmp_path: Path):
        path = tmp_path / "trace.jsonl"
        path.write_text(
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": self.spans}]}]}) + "\n"
        )
        (trace,) = read_traces([path]).traces
        return trace


def _flat(prefix: str, messages: list[dict]) -> dict:
    out: dict = {}
    for i, message in enumerate(messages):
        base = f"{prefix}{i}.message."
        out[base + "role"] = message["role"]
        for key in ("content", "tool_call_id"):
            if message.get(key) is not None:
                out[base + key] = message[key]
        for j, (call_id, name, arguments) in enumerate(message.get("calls", [])):
            call = f"{base}tool_calls.{j}.tool_call."
            if call_id is not None:
                out[call + "id"] = call_id
            out[call + "function.name"] = name
            out[call + "function.arguments"] = arguments
    return out


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str | None = None, calls: tuple = ()) -> dict:
    return {"role": "assistant", "content": text, "calls": list(calls)}


def answer(content: str, call_id: str | None = None) -> dict:
    return {"role": "tool", "content": content, "tool_call_id": call_id}


def steps_of(trace) -> list[tuple]:
    return [
        (s.action.content,) if s.action.kind is ActionKind.MESSAGE
        else (s.action.name, s.action.arguments, s.observation.content)
        for s in trace.steps
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "later"), [(WHOLE, CUT), (CUT, WHOLE)], ids=["cut-later", "cut-first"]
)
def test_a_clarifying_exchange_before_a_cut_call_is_one_step(
    tmp_path: Path, first: str, later: str
) -> None:
    history = [user("save the note"), assistant("Which file?"), user("notes.txt")]
    spans = Spans()
    spans.llm(history[:1], [assistant("Which file?")])
    spans.llm(history, [assistant(calls=[("call_1", "write", first)])])
    spans.tool("write", WHOLE, "ok", call_id="call_1")
    spans.llm(
        history + [assistant(calls=[("call_1", "write", later)]), answer("ok", "call_1")],
        [assistant("done")],
    )
    assert steps_of(spans.read(tmp_path)) == [("Which file?",), ("write", WRITE, "ok")]


def test_calls_without_ids_whose_history_is_cut_are_one_step_each(tmp_path: Path) -> None:
    spans = Spans()
    spans.llm([user("save the note")], [assistant(calls=[(None, "write", WHOLE)])])
    spans.tool("write", WHOLE, "ok")
    spans.llm(
        [user("save the note"), assistant(calls=[(None, "write", CUT)]), answer("ok")],
        [assistant("done")],
    )
    assert steps_of(spans.read(tmp_path)) == [("write", WRITE, "ok")]


def test_reused_ids_with_a_cut_history_do_not_repeat_earlier_calls(tmp_path: Path) -> None:
    """The server numbers calls per response (call_0 every turn)."""
    read = json.dumps(READ)
    first = [user("append to the note")]
    second = first + [assistant(calls=[("call_0", "read", read)]), answer("hello", "call_0")]
    spans = Spans()
    spans.llm(first, [assistant(calls=[("call_0", "read", read)])])
    spans.tool("read", read, "hello", call_id="call_0")
    spans.llm(second, [assistant(calls=[("call_0", "write", WHOLE)])])
    spans.tool("write", WHOLE, "ok", call_id="call_0")
    spans.llm(
        second + [assistant(calls=[("call_0", "write", CUT)]), answer("ok", "call_0")],
        [assistant("done")],
    )
    assert steps_of(spans.read(tmp_path)) == [("read", READ, "hello"), ("write", WRITE, "ok")]


def test_many_turns_with_cut_histories_give_each_exchange_once(tmp_path: Path) -> None:
    turns = 12
    spans = Spans()
    history = [user("start")]
    for k in range(turns):
        arguments = json.dumps({"path": f"/srv/f{k}.txt", "content": f"line {k} " * 50})
        spans.llm(history, [assistant(calls=[(f"call_{k}", "write", arguments)])])
        spans.tool("write", arguments, f"ok {k}", call_id=f"call_{k}")
        history = history + [
            assistant(calls=[(f"call_{k}", "write", arguments[:LIMIT])]),
            answer(f"ok {k}", f"call_{k}"),
        ]
        spans.llm(history, [assistant(f"Done {k}. Next?")])
        history = history + [assistant(f"Done {k}. Next?"), user(f"go on {k}")]
    spans.llm(history, [assistant("bye")])
    found = steps_of(spans.read(tmp_path))
    expected: list[tuple] = []
    for k in range(turns):
        arguments = {"path": f"/srv/f{k}.txt", "content": f"line {k} " * 50}
        expected += [("write", arguments, f"ok {k}"), (f"Done {k}. Next?",)]
    assert found == expected


@pytest.mark.parametrize(
    "written",
    [
        '{"temperature": 0.50, "note": "%s"}',
        '{"limit": 1e3, "note": "%s"}',
        '{"url": "https:\\/\\/example.com\\/a", "note": "%s"}',
    ],
    ids=["0.50", "1e3", "escaped-slash"],
)
def test_a_call_the_model_wrote_otherwise_than_json_writes_is_one_step_when_cut(
    tmp_path: Path, written: str
) -> None:
    """The cut copy is compared with the whole one's value token by token, not with how a JSON
    library writes that value again (0.5, 1000.0, https://...)."""
    whole = written % ("call me after six " * 20)
    spans = Spans()
    spans.llm([user("q")], [assistant(calls=[("call_1", "ask", whole)])])
    spans.tool("ask", whole, "ok", call_id="call_1")
    spans.llm(
        [user("q"), assistant(calls=[("call_1", "ask", whole[:LIMIT])]), answer("ok", "call_1")],
        [assistant("done")],
    )
    assert steps_of(spans.read(tmp_path)) == [("ask", json.loads(whole), "ok")]


def test_a_call_cut_inside_a_number_is_one_step(tmp_path: Path) -> None:
    """The cut lands in `1e3` (orjson reads 1000.0): `1e` is compared as far as it goes."""
    head = '{"note": "%s", "lr": 1e'
    note = "n" * (LIMIT - len(head % ""))
    whole = (head % note) + '3, "z": 1}'
    assert whole[:LIMIT].endswith("1e")
    spans = Spans()
    spans.llm([user("q")], [assistant(calls=[("call_1", "fit", whole)])])
    spans.tool("fit", whole, "ok", call_id="call_1")
    spans.llm(
        [user("q"), assistant(calls=[("call_1", "fit", whole[:LIMIT])]), answer("ok", "call_1")],
        [assistant("done")],
    )
    assert steps_of(spans.read(tmp_path)) == [("fit", json.loads(whole), "ok")]

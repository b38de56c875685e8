from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wmh.core.text import counted
from wmh.errors import EmptyCorpusError, IngestError
from wmh.ingest import read_traces
from wmh.ingest.otlp import decode_any_value, read_span_file


def test_whole_file_export_and_collector_lines_give_the_same_trace(data_dir: Path) -> None:
    whole = read_traces([data_dir / "genai_export.json"]).traces
    lines = read_traces([data_dir / "collector_exports.jsonl"]).traces
    by_id = {t.trace_id: t for t in lines}
    assert [s.model_dump() for s in whole[0].steps] == [
        s.model_dump() for s in by_id[whole[0].trace_id].steps
    ]


def test_single_span_lines_are_read_out_of_order_and_sorted_by_start_time(data_dir: Path) -> None:
    (trace,) = read_traces([data_dir / "single_spans.jsonl"]).traces
    assert [s.action.arguments["command"] for s in trace.steps] == [
        "ls",
        "cat notes.txt",
        "wc -l notes.txt",
    ]
    assert trace.steps[1].observation.content == "buy milk"


def test_a_span_read_twice_is_one_step_and_the_repeats_are_counted(
    data_dir: Path, tmp_path: Path
) -> None:
    once = read_traces([data_dir / "single_spans.jsonl"])
    lines = (data_dir / "single_spans.jsonl").read_text().splitlines()
    repeated = tmp_path / "retried.jsonl"  # an exporter's retry: the first span again, later
    repeated.write_text("\n".join([*lines, lines[0]]) + "\n")
    for files in ([data_dir / "single_spans.jsonl"] * 2, [repeated]):
        twice = read_traces(files)
        assert [s.model_dump() for s in twice.traces[0].steps] == [
            s.model_dump() for s in once.traces[0].steps
        ]
        dropped = twice.report.spans - once.report.spans
        assert dropped > 0 and twice.report.duplicate_spans == dropped
        assert (
            f"{counted(dropped, 'duplicate span')} (a trace and span id read before) skipped"
            in (twice.report.summary())
        )


def test_any_value_decoding_covers_every_kind() -> None:
    assert decode_any_value({"intValue": "12"}, "x") == 12
    assert decode_any_value({"doubleValue": 1.5}, "x") == 1.5
    assert decode_any_value({"boolValue": True}, "x") is True
    assert decode_any_value({"arrayValue": {"values": [{"stringValue": "a"}]}}, "x") == ["a"]
    kv = {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": 3}}]}}
    assert decode_any_value(kv, "x") == {"k": 3}
    assert decode_any_value({"bytesValue": "aGk="}, "x") == "hi"


@pytest.mark.parametrize(
    ("name", "line", "fragment"),
    [
        ("bad_json.jsonl", 2, "not valid JSON"),
        ("missing_ids.jsonl", 2, "missing 'traceId'"),
        ("wrong_type.jsonl", 3, "attribute 'gen_ai.tool.name': expected a string"),
        ("no_steps.jsonl", 2, "has no steps"),
        ("empty.jsonl", None, "the file is empty"),
        ("not_otlp.json", None, "expected an OTLP export"),
        ("does_not_exist.jsonl", None, "no such file"),
    ],
)
def test_bad_input_names_file_and_line(
    data_dir: Path, name: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(IngestError) as info:
        read_traces([data_dir / name])
    assert info.value.path.endswith(name)
    assert info.value.line == line
    assert fragment in str(info.value)


def test_traces_without_steps_can_be_skipped_and_are_counted(data_dir: Path) -> None:
    result = read_traces([data_dir / "no_steps.jsonl"], skip_empty_traces=True)
    assert len(result.traces) == 1
    assert result.report.empty_traces == ["7ff7651916cd43dd8448eb211c8031a3"]


def test_no_files_and_no_steps_are_errors(tmp_path: Path) -> None:
    with pytest.raises(EmptyCorpusError):
        read_traces([])
    only_unknown = tmp_path / "unknown.jsonl"
    only_unknown.write_text(
        '{"traceId":"ab","spanId":"cd","name":"db.query","startTimeUnixNano":"1"}\n'
    )
    with pytest.raises(EmptyCorpusError, match="1 unknown span skipped; expected"):
        read_traces([only_unknown])
    # Tool spans, but none with a result: said, not only "unknown spans skipped".
    unanswered = tmp_path / "unanswered.jsonl"
    unanswered.write_text(
        "".join(
            f'{{"traceId":"ab","spanId":"c{i}","name":"execute_tool lookup",'
            f'"startTimeUnixNano":"{i}","attributes":[{{"key":"gen_ai.tool.name",'
            f'"value":{{"stringValue":"lookup"}}}},{{"key":"gen_ai.tool.call.id",'
            f'"value":{{"stringValue":"call_{i}"}}}}]}}\n'
            for i in range(3)
        )
    )
    with pytest.raises(
        EmptyCorpusError,
        match=r"0 unknown spans skipped, 3 tool calls without a result and 0 agent messages "
        r"without a user reply \(neither is a step",
    ):
        read_traces([unanswered])


def test_wrong_attribute_value_shape_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"traceId":"ab","spanId":"cd","name":"x","startTimeUnixNano":"1",'
        '"attributes":[{"key":"a","value":{"weirdValue":1}}]}\n'
    )
    with pytest.raises(IngestError, match=r"bad.jsonl:1: .*unknown AnyValue field\(s\) weirdValue"):
        list(read_span_file(bad))


def test_a_status_code_that_is_not_a_number_or_a_string_is_reported(tmp_path: Path) -> None:
    """Found by the fuzz test: a list as the code was a TypeError (unhashable), not an
    IngestError naming the line."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"traceId":"ab","spanId":"cd","name":"x","startTimeUnixNano":"1","status":{"code":[2]}}\n'
    )
    with pytest.raises(IngestError, match=r"bad.jsonl:1: .*'status.code' must be a number"):
        list(read_span_file(bad))


def test_start_time_must_be_an_integer(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"traceId":"ab","spanId":"cd","name":"x","startTimeUnixNano":"soon"}\n')
    with pytest.raises(
        IngestError, match=re.escape("'startTimeUnixNano' (a string of 4 characters) is not an")
    ):
        list(read_span_file(bad))


@pytest.mark.parametrize(
    "span",
    [
        '"startTimeUnixNano":"sk-SECRET42"',
        '"startTimeUnixNano":"1","attributes":[{"key":"k","value":{"intValue":"sk-SECRET42"}}]',
        '"startTimeUnixNano":"1","attributes":[{"key":"k","value":{"doubleValue":"sk-SECRET42"}}]',
    ],
)
def test_a_bad_value_is_described_without_its_text(tmp_path: Path, span: str) -> None:
    """An attribute's or a field's bad value was quoted whole in the error (and so in the build
    log): a key pasted where a number belongs reached both."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"traceId":"ab","spanId":"cd","name":"x",' + span + "}\n")
    with pytest.raises(IngestError, match="a string of 11 characters") as raised:
        list(read_span_file(bad))
    assert "SECRET" not in str(raised.value)


def test_another_harness_array_of_bare_spans_with_its_attribute_names(data_dir: Path) -> None:
    """A pretty-printed JSON array of bare spans whose attributes are a plain object, naming
    arguments and results `gen_ai.tool.input` / `.output` / `.arguments` / `.result`, bare
    `input` / `output`, and a tool error as `gen_ai.tool.message` with an error status; the
    task is a plain-text prompt on a chat span."""
    [trace] = read_traces([data_dir / "other_harness_spans.json"]).traces
    assert trace.task == "Plan a trip: check the weather in Oslo, then book a table."
    got = [
        (s.action.name, s.action.arguments, s.observation.content, s.observation.is_error)
        for s in trace.steps
    ]
    assert got == [
        ("get_weather", {"city": "Oslo"}, '{"city": "Oslo", "temp_c": 4}', False),
        ("get_forecast", {"city": "Oslo", "days": 2}, "rain, then sun", False),
        ("search", {"q": "tables near the fjord"}, "3 restaurants found", False),
        ("book_table", {"restaurant": "Fjord", "people": 2}, "no tables left at 19:00", True),
    ]


def test_a_one_line_array_of_spans_reads_like_the_pretty_printed_one(
    data_dir: Path, tmp_path: Path
) -> None:
    import json

    spans = json.loads((data_dir / "other_harness_spans.json").read_text())
    one_line = tmp_path / "spans.jsonl"
    one_line.write_text(json.dumps(spans) + "\n")
    [pretty] = read_traces([data_dir / "other_harness_spans.json"]).traces
    [compact] = read_traces([one_line]).traces
    assert [s.model_dump() for s in compact.steps] == [s.model_dump() for s in pretty.steps]


def test_a_bad_line_after_blank_lines_is_named_by_its_line_in_the_file(
    data_dir: Path, tmp_path: Path
) -> None:
    """JSON lines are read one at a time; blank lines before the first span, and between
    spans, still count."""
    good, bad = (data_dir / "bad_json.jsonl").read_bytes().splitlines()[:2]
    path = tmp_path / "blanks.jsonl"
    path.write_bytes(b"\n  \n" + good + b"\n\n" + bad + b"\n")
    with pytest.raises(IngestError) as info:
        read_traces([path])
    assert info.value.line == 5 and "not valid JSON" in str(info.value)


def test_a_folder_reads_gzipped_and_upper_case_files_and_linked_folders_and_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`b.jsonl.gz`, `C.JSONL` and a linked folder were left out of a folder's files, and the
    other files without a word."""
    import gzip
    import logging

    from wmh.ingest.reader import trace_files
    from wmh.ingest.synthetic import write_corpus

    folder, elsewhere = tmp_path / "traces", tmp_path / "elsewhere"
    (folder / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    plain = write_corpus(folder / "a.jsonl", traces=3, seed=1)
    packed = write_corpus(tmp_path / "b.jsonl", traces=4, seed=2)
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(packed.read_bytes()))
    write_corpus(elsewhere / "C.JSONL", traces=5, seed=3)
    (folder / "linked").symlink_to(elsewhere)
    (folder / "sub" / "up").symlink_to(folder)  # a loop: read once
    (folder / "notes.txt").write_text("not traces")
    with caplog.at_level(logging.WARNING, logger="wmh.ingest.reader"):
        found = trace_files(folder)
    assert found == [plain, folder / "b.jsonl.gz", folder / "linked" / "C.JSONL"]
    assert "1 files that are not trace files" in caplog.text and "notes.txt" in caplog.text
    # Gzipped, the same traces as the file it packs.
    unpacked = read_traces([folder / "b.jsonl.gz"]).traces
    assert [t.steps for t in unpacked] == [t.steps for t in read_traces([packed]).traces]
    assert len(unpacked) == 4
    assert len(read_traces(found).traces) == 3 + 4 + 5
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes((folder / "b.jsonl.gz").read_bytes()[:200])
    with pytest.raises(IngestError, match="cannot unpack the gzip file"):
        read_traces([cut])


def _bare_spans(path: Path, spans: list[dict]) -> Path:
    """A pretty-printed JSON array of bare spans whose attributes are a plain object, as other
    harnesses write them."""
    import json

    path.write_text(json.dumps(spans, indent=1))
    return path


def _tool_span(span_id: str, start: int, result: str, **extra: object) -> dict:
    return {
        "traceId": "ab",
        "spanId": span_id,
        "name": "execute_tool lookup",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1),
        "attributes": {"gen_ai.tool.name": "lookup", "gen_ai.tool.call.result": result},
        **extra,
    }


@pytest.mark.parametrize(
    ("code", "failed"),
    [
        (2, True),
        ("2", True),
        ("STATUS_CODE_ERROR", True),
        ("ERROR", True),
        (1, False),
        ("STATUS_CODE_OK", False),
        (0, False),
    ],
)
def test_every_spelling_of_the_error_status_marks_the_step_failed(
    tmp_path: Path, code: object, failed: bool
) -> None:
    """OTLP JSON writes the error status as the number 2, and exporters also write it as the
    string "2" or by its name; each marks the tool's answer as an error (a bug dropping one
    spelling would record a failed call as a success)."""
    path = _bare_spans(
        tmp_path / "spans.json",
        [_tool_span("c1", 10, "no tables left", status={"code": code})],
    )
    [trace] = read_traces([path]).traces
    assert [(s.observation.content, s.observation.is_error) for s in trace.steps] == [
        ("no tables left", failed)
    ]


def test_a_chat_span_without_an_end_time_says_its_answer_when_it_started(tmp_path: Path) -> None:
    """A span's output is placed at its end time; a span without `endTimeUnixNano` ends when
    it starts. The agent's question, asked after the lookup, stays after it (placed at time 0,
    it came before the lookup)."""
    import json

    def chat(span_id: str, start: int, inputs: list, outputs: list) -> dict:
        return {
            "traceId": "ab",
            "spanId": span_id,
            "name": "chat model",
            "startTimeUnixNano": str(start),
            "attributes": {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(inputs),
                "gen_ai.output.messages": json.dumps(outputs),
            },
        }

    def said(role: str, text: str) -> dict:
        return {"role": role, "parts": [{"type": "text", "content": text}]}

    task, question, reply = (
        said("user", "Find my order"),
        said("assistant", "Which order number?"),
        said("user", "Order 7."),
    )
    path = _bare_spans(
        tmp_path / "spans.json",
        [
            _tool_span("t1", 10, "3 orders"),
            chat("c1", 20, [task], [question]),
            chat("c2", 30, [task, question, reply], []),
        ],
    )
    [trace] = read_traces([path]).traces
    assert [(s.action.name or s.action.content, s.observation.content) for s in trace.steps] == [
        ("lookup", "3 orders"),
        ("Which order number?", "Order 7."),
    ]


@pytest.mark.parametrize("missing", ["startTimeUnixNano", "traceId", "spanId"])
def test_a_span_without_its_start_time_or_ids_is_an_error_naming_the_line(
    tmp_path: Path, missing: str
) -> None:
    """A span with no start time cannot be placed in its trace: it is an error naming the
    file and line, not a span taken to have started in 1970."""
    import json

    span = _tool_span("c1", 10, "3 orders")
    del span[missing]
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(_tool_span("c0", 5, "2 orders")) + "\n" + json.dumps(span) + "\n")
    with pytest.raises(IngestError) as info:
        read_traces([path])
    assert info.value.line == 2 and f"missing '{missing}'" in str(info.value)


def test_span_and_trace_ids_are_read_in_any_case(tmp_path: Path) -> None:
    """Hex ids are case-insensitive: one exporter's upper-case ids name the same trace and span
    as another's lower-case ones (read as two, the span's call would be a step twice, in a
    second trace)."""
    import json

    lower = _tool_span("c1a0", 10, "3 orders", traceId="ab12")
    upper = _tool_span("C1A0", 10, "3 orders", traceId="AB12")
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(lower) + "\n" + json.dumps(upper) + "\n")
    result = read_traces([path])
    assert [(t.trace_id, len(t.steps)) for t in result.traces] == [("ab12", 1)]
    assert result.report.duplicate_spans == 1


def test_a_bad_span_in_an_array_is_named_by_its_place_in_it(tmp_path: Path) -> None:
    """A pretty-printed array has no line per span: the error names the span's place in the
    array, so the bad one of thousands can be found."""
    bad = _tool_span("c2", 20, "3 orders")
    bad["startTimeUnixNano"] = "soon"
    path = _bare_spans(tmp_path / "spans.json", [_tool_span("c1", 10, "2 orders"), bad])
    with pytest.raises(IngestError) as info:
        read_traces([path])
    assert info.value.line is None
    assert (
        "span 'execute_tool lookup' ([1]): 'startTimeUnixNano' (a string of 4 characters) is not"
        in str(info.value)
    )


def test_a_trace_without_steps_is_named_by_its_first_line_in_the_file(tmp_path: Path) -> None:
    """Its spans on lines 2 and 4 (read out of order: line 4's started first, or not): the
    error points at line 2, where the trace begins in the file."""
    import json

    def unknown(span_id: str, start: int) -> str:
        span = {"traceId": "ee", "spanId": span_id, "name": "db.query", "startTimeUnixNano": start}
        return json.dumps(span)

    for starts in ((1, 5), (5, 1)):
        path = tmp_path / "spans.jsonl"
        path.write_text(
            "\n".join(
                [
                    json.dumps(_tool_span("c1", 10, "2 orders")),
                    unknown("e1", starts[0]),
                    json.dumps(_tool_span("c2", 20, "3 orders")),
                    unknown("e2", starts[1]),
                ]
            )
            + "\n"
        )
        with pytest.raises(IngestError, match="trace ee has no steps") as info:
            read_traces([path])
        assert info.value.line == 2


def test_the_order_files_are_given_in_does_not_reorder_a_trace_s_steps(tmp_path: Path) -> None:
    """One trace across two files, with two calls that started at the same nanosecond: its
    steps come in the same order whichever file is named first (ties go by file, then by place
    in it), so a build does not change with the order of data.files."""
    import json

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps(_tool_span("c1", 10, "from a")) + "\n")
    second.write_text(json.dumps(_tool_span("c2", 10, "from b")) + "\n")
    for files in ([first, second], [second, first]):
        [trace] = read_traces(files).traces
        assert [s.observation.content for s in trace.steps] == ["from a", "from b"]


def test_the_conventions_own_result_key_wins_over_a_bare_output(tmp_path: Path) -> None:
    """A tool span holding both `gen_ai.tool.call.result` and a harness's generic `output`
    (or `input` beside `gen_ai.tool.call.arguments`) is read by the semantic conventions' own
    keys; a bare `output` on a span that is not an `execute_tool` one makes no tool step."""
    path = _bare_spans(
        tmp_path / "spans.json",
        [
            _tool_span(
                "c1",
                10,
                "3 orders",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup",
                    "input": '{"q": "raw"}',
                    "gen_ai.tool.call.arguments": '{"q": "orders"}',
                    "output": "<Result object at 0x7f>",
                    "gen_ai.tool.call.result": "3 orders",
                },
            ),
            {
                "traceId": "ab",
                "spanId": "c2",
                "name": "agent step",
                "startTimeUnixNano": "20",
                "attributes": {"gen_ai.tool.name": "lookup", "output": "done"},
            },
        ],
    )
    result = read_traces([path])
    [trace] = result.traces
    assert [(s.action.name, s.action.arguments, s.observation.content) for s in trace.steps] == [
        ("lookup", {"q": "orders"}, "3 orders")
    ]
    assert result.report.skipped_span_names == {"agent step": 1}


def test_a_failed_tool_span_without_a_result_answers_with_its_status_message(
    tmp_path: Path,
) -> None:
    """An `execute_tool` span that failed before it had a result (an error status with a
    message, no result attribute) is a failed step answering with that message, not a call
    left without a result."""
    failed = _tool_span(
        "c1",
        10,
        "",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "book"},
        status={"code": "STATUS_CODE_ERROR", "message": "TimeoutError: no answer in 30 s"},
    )
    result = read_traces([_bare_spans(tmp_path / "spans.json", [failed])])
    [trace] = result.traces
    got = [(s.action.name, s.observation.content, s.observation.is_error) for s in trace.steps]
    assert got == [("book", "TimeoutError: no answer in 30 s", True)]
    assert result.report.unanswered_tool_calls == 0


def test_an_error_type_marks_a_tool_message_result_as_failed(tmp_path: Path) -> None:
    """`error.type` on an `execute_tool` span says the call failed even with an unset status,
    whether its result is a result attribute or a `gen_ai.tool.message`."""
    spans = [
        _tool_span(
            f"c{i}",
            10 * i,
            "",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "pay",
                "gen_ai.tool.call.id": f"call_{i}",
                key: "card declined",
                "error.type": "PaymentError",
            },
        )
        for i, key in enumerate(("gen_ai.tool.call.result", "gen_ai.tool.message"), start=1)
    ]
    [trace] = read_traces([_bare_spans(tmp_path / "spans.json", spans)]).traces
    assert [(s.observation.content, s.observation.is_error) for s in trace.steps] == [
        ("card declined", True),
        ("card declined", True),
    ]


def test_the_summary_counts_files_in_the_number_they_take(data_dir: Path) -> None:
    one = read_traces([data_dir / "single_spans.jsonl"]).report.summary()
    two = read_traces([data_dir / "single_spans.jsonl", data_dir / "genai_export.json"])
    assert one.startswith("3 steps from 1 trace in 1 file; 4 spans read; 1 unknown span skipped")
    assert " in 2 files" in two.report.summary()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        # Bytes that are no UTF-8 were "surrogates not allowed at column 1", wherever they were.
        (b'{"traceId": "ab", "name": "caf\xe9"}\n', ":1: not UTF-8 text (byte 0xe9 at byte 31 of"),
        (b"\xff\xfe{}\n", ":1: not UTF-8 text (byte 0xff at byte 1 of the line)"),
        (b'{"resourceSpans": [\n {"x": "\xe9"}]}', ":2: not UTF-8 text (byte 0xe9 at byte 9 of"),
        # JSON's names for what a line held, not Python's ("got NoneType").
        (b"null\n", ":1: expected a span object, got null"),
        (b"[3]\n", ":1: expected a span object ([0]), got a number"),
        (b'"a span"\n', ":1: expected a span object, got a string"),
    ],
)
def test_a_line_that_is_no_span_says_what_it_is(tmp_path: Path, content: bytes, said: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        read_traces([path])
    assert said in str(info.value)


@pytest.mark.parametrize("shape", ["lines", "blank line first", "array", "pretty array"])
def test_a_byte_order_mark_at_the_start_of_a_file_is_read_past(tmp_path: Path, shape: str) -> None:
    """Some Windows tools start UTF-8 files with a byte order mark; the file was refused
    ("BOM is not supported at column 1")."""
    spans = [_tool_span("s1", 1, "3 orders"), _tool_span("s2", 2, "none")]
    text = {
        "lines": "\n".join(map(json.dumps, spans)),
        "blank line first": "\n" + "\n".join(map(json.dumps, spans)),
        "array": json.dumps(spans),
        "pretty array": json.dumps(spans, indent=1),
    }[shape]
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    (trace,) = read_traces([path]).traces
    assert [s.observation.content for s in trace.steps] == ["3 orders", "none"]

from __future__ import annotations

from pathlib import Path

import pytest

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
        assert f"{dropped} duplicate spans (a trace and span id read before) skipped" in (
            twice.report.summary()
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
    with pytest.raises(EmptyCorpusError, match="1 unknown spans skipped; expected"):
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
    with pytest.raises(IngestError, match="'startTimeUnixNano' 'soon' is not an integer"):
        list(read_span_file(bad))


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

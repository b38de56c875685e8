"""Read trace files into `Trace`s and count everything that was not turned into a step."""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wmh.config.schema import DataConfig
from wmh.core.text import counted
from wmh.core.types import Trace
from wmh.errors import EmptyCorpusError, IngestError
from wmh.ingest.assemble import TraceAssembler
from wmh.ingest.genai import SpanKind, span_facts
from wmh.ingest.otlp import SpanRecord, read_span_file
from wmh.ingest.report import IngestReport

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    traces: list[Trace]
    report: IngestReport = field(default_factory=IngestReport)

    @property
    def steps(self) -> int:
        return sum(len(t.steps) for t in self.traces)


TRACE_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")  # in any case: `.JSONL` too


def input_files(data: DataConfig) -> list[Path]:
    """`data.files` then `data.path`; a directory stands for the trace files under it
    (`*.jsonl`, `*.json`, gzipped or not, sorted). A missing path is an error naming it and
    its key."""
    entries = [(f"data.files[{i}]", f) for i, f in enumerate(data.files)]
    if data.path:
        entries.append(("data.path", data.path))
    return [file for key, entry in entries for file in trace_files(Path(entry), key)]


def _files_under(folder: Path) -> list[Path]:
    """Every file under a folder, through linked folders too (each real folder once)."""
    seen: set[str] = set()
    found: list[Path] = []
    for where, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(where)
        if real in seen:  # a link back up the tree
            folders.clear()
            continue
        seen.add(real)
        folders.sort()  # walked in name order: a file met twice (through a link) is named alike
        found.extend(Path(where) / name for name in files)
    return [f for f in found if f.is_file()]


def trace_files(path: Path, key: str = "") -> list[Path]:
    """A trace file, or the trace files under a directory (`*.jsonl`, `*.json`, gzipped or
    not, in any case, through linked folders, sorted; the other files there are counted in a
    warning); a missing path, or a directory holding none, is an error naming it (and `key`,
    the setting or argument that gave it)."""
    given = f" ({key})" if key else ""
    if path.is_dir():
        found: list[Path] = []
        other: list[Path] = []
        for file in _files_under(path):
            (found if file.name.lower().endswith(TRACE_SUFFIXES) else other).append(file)
        if not found:
            where = f"{key}: " if key else ""
            raise EmptyCorpusError(
                f"{where}directory {path} holds no trace files (*.jsonl, *.json, or either "
                f"gzipped){f'; {len(other)} other files' if other else ''}"
            )
        if other:
            names = ", ".join(str(f.relative_to(path)) for f in sorted(other)[:3])
            log.warning(
                "%s: %d files that are not trace files (*.jsonl, *.json, or either gzipped) "
                "left out: %s%s", path, len(other), names, ", ..." if len(other) > 3 else "",
            )  # fmt: skip
        return sorted(found)
    if path.exists():
        return [path]
    raise IngestError(str(path), None, f"no such file or directory{given}")


def read_traces(
    paths: str | Path | Sequence[str | Path], skip_empty_traces: bool = False
) -> IngestResult:
    """Read every file, group spans by trace, and assemble each trace's steps.

    Raises IngestError for unreadable input (naming file and line) and EmptyCorpusError when no
    step is found. A trace with no steps is an error unless `skip_empty_traces` (then it is
    counted).
    """
    traces: list[Trace] = []
    if isinstance(paths, str | Path):  # one file named alone, not a sequence of characters
        paths = [paths]
    report = fold_traces(paths, traces.append, skip_empty_traces)
    return IngestResult(traces=traces, report=report)


def fold_traces(
    paths: Sequence[str | Path], take: Callable[[Trace], None], skip_empty_traces: bool = False
) -> IngestReport:
    """`read_traces`, each trace handed to `take` as soon as it is assembled (in order of trace
    id), and not held here."""
    if not paths:
        raise EmptyCorpusError(
            "no trace files given: pass at least one file (data.files=[...] or data.path=...)"
        )
    spans = (span for path in paths for span in read_span_file(path))
    return fold_spans(spans, [str(p) for p in paths], take, skip_empty_traces)


def fold_spans(
    spans: Iterable[SpanRecord],
    sources: list[str],
    take: Callable[[Trace], None],
    skip_empty_traces: bool = False,
) -> IngestReport:
    """`fold_traces` for spans from anywhere (files, an MLflow store, a Phoenix server): each
    trace handed to `take` as soon as it is assembled. Its errors are raised once every trace
    is read."""
    report = IngestReport(files=sources)
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
        report.spans += 1
    empty: list[SpanRecord] = []
    for trace in _assemble_all(by_trace, report, empty):
        report.traces += 1
        report.steps += len(trace.steps)
        take(trace)
    nameless = (
        f", {counted(report.nameless_tool_calls, 'tool call')} without a tool name skipped"
        if report.nameless_tool_calls
        else ""
    )
    if not report.traces:
        unanswered = ""
        if report.unanswered_tool_calls or report.unanswered_messages:
            unanswered = (
                f", {counted(report.unanswered_tool_calls, 'tool call')} without a result and "
                f"{counted(report.unanswered_messages, 'agent message')} without a user reply "
                "(neither is a step: a step is a call with its result, or a message with its "
                "answer)"
            )
        raise EmptyCorpusError(
            f"no steps found in {', '.join(report.files)}: {counted(report.spans, 'span')} read, "
            f"{counted(report.skipped_spans, 'unknown span')} skipped{unanswered}{nameless}; "
            "expected execute_tool or chat spans following the OpenTelemetry GenAI conventions"
        )
    if empty and not skip_empty_traces:
        first = empty[0]
        raise IngestError(
            first.path,
            first.line,
            f"trace {first.trace_id} has no steps (no named tool call with a result and no "
            f"agent message answered by the user); {counted(len(empty), 'such trace')} in "
            f"total{nameless}. Fix them or set data.skip_empty_traces=true to skip (and count) "
            "them",
        )
    log.info("ingest: %s", report.summary())
    return report


def _first_of_each(spans: list[SpanRecord], report: IngestReport) -> list[SpanRecord]:
    """Each span of a trace once, as first read; the repeats are counted."""
    seen: set[str] = set()
    unique = []
    for span in spans:
        if span.span_id in seen:
            report.duplicate_spans += 1
            continue
        seen.add(span.span_id)
        unique.append(span)
    return unique


def _assemble_all(
    by_trace: dict[str, list[SpanRecord]], report: IngestReport, empty: list[SpanRecord]
) -> Iterable[Trace]:
    """Yield traces with steps; the first span of each trace without steps goes to `empty`.
    Each trace's spans leave `by_trace` as it is assembled (only its steps stay in memory)."""
    skipped: Counter[str] = Counter()
    for trace_id in sorted(by_trace):
        spans = _first_of_each(by_trace.pop(trace_id), report)
        spans.sort(key=lambda s: (s.start_ns, s.path, s.seq))
        assembler = TraceAssembler(trace_id)
        for span in spans:
            facts = span_facts(span)
            if facts.kind is SpanKind.UNKNOWN or (
                facts.kind is SpanKind.CHAT and not facts.contributes
            ):
                skipped[span.name or "<unnamed>"] += 1
                continue
            assembler.add(span, facts)
        assembled = assembler.finish()
        report.unanswered_tool_calls += assembled.unanswered_calls
        report.unanswered_messages += assembled.unanswered_messages
        report.wrapped_arguments += assembled.wrapped_arguments
        report.broken_arguments += assembled.broken_arguments
        report.nameless_tool_calls += assembled.nameless_calls
        if not assembled.steps:
            empty.append(min(spans, key=lambda s: (s.path, s.line or 0)))
            report.empty_traces.append(trace_id)
            continue
        source = spans[0].path
        yield Trace(
            trace_id=trace_id, steps=assembled.steps, source=source, metadata={"spans": len(spans)}
        )
    report.skipped_spans = sum(skipped.values())
    report.skipped_span_names = dict(skipped)

"""Ingest: trace files (OTLP JSON, GenAI conventions) -> `Trace`s of `Step`s."""

from wmh.ingest.reader import IngestReport, IngestResult, read_traces

__all__ = ["IngestReport", "IngestResult", "read_traces"]

"""Ingest: trace files (OTLP JSON, GenAI conventions) -> `Trace`s of `Step`s.

The readers are imported when first asked for: a model card holds an `IngestReport`, and reading
one loads no reader, config schema or OmegaConf."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wmh.ingest.report import IngestReport

if TYPE_CHECKING:
    from wmh.ingest.reader import IngestResult, read_traces

__all__ = ["IngestReport", "IngestResult", "read_traces"]


def __getattr__(name: str) -> Any:
    if name not in ("IngestResult", "read_traces"):
        raise AttributeError(f"module 'wmh.ingest' has no attribute {name!r}")
    value = getattr(importlib.import_module("wmh.ingest.reader"), name)
    globals()[name] = value
    return value

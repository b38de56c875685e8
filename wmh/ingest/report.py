"""What ingest read and what it left out (`IngestReport`), in a module of its own: a model card
holds one, and reads without loading the readers, the config schema or OmegaConf."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from wmh.core.text import counted

# Trace stores read through their APIs; a store's traces are labelled "store:name" in reports.
STORES = ("mlflow", "phoenix")


def store_label(store: str, name: str) -> str:
    return f"{store}:{name}"


class IngestReport(BaseModel):
    """What ingest read and what it left out, so nothing is skipped silently."""

    files: list[str] = Field(default_factory=list)
    spans: int = 0
    traces: int = 0
    steps: int = 0
    skipped_spans: int = 0
    skipped_span_names: dict[str, int] = Field(default_factory=dict)
    unanswered_tool_calls: int = 0
    unanswered_messages: int = 0
    empty_traces: list[str] = Field(default_factory=list)
    # The same span (trace and span id) read again: a file given twice, overlapping exports,
    # an exporter's retry. Each is read once; folded in, its tool calls would be steps twice.
    duplicate_spans: int = 0
    # Tool calls whose arguments were not a JSON object, kept as {"input": x}; of them,
    # `broken_arguments` were text that began as JSON and did not parse (cut short, most often).
    wrapped_arguments: int = 0
    broken_arguments: int = 0
    # Answered tool calls that name no tool: skipped, as no step can hold them.
    nameless_tool_calls: int = 0
    # Inputs the source does not read (data.files with source=mlflow), said rather than dropped.
    not_read: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        # A source other than files is named: "in phoenix:support-agent", "in mlflow:agent".
        where = (
            self.files[0]
            if len(self.files) == 1 and self.files[0].split(":", 1)[0] in STORES
            else counted(len(self.files), "file")
        )
        parts = [
            f"{counted(self.steps, 'step')} from {counted(self.traces, 'trace')} in {where}",
            f"{counted(self.spans, 'span')} read",
        ]
        if self.not_read:
            parts.append(f"{'; '.join(self.not_read)}")
        if self.duplicate_spans:
            parts.append(
                f"{counted(self.duplicate_spans, 'duplicate span')} (a trace and span id read "
                "before) skipped"
            )
        if self.skipped_spans:
            top = ", ".join(f"{n} x{c}" for n, c in Counter(self.skipped_span_names).most_common(3))
            parts.append(f"{counted(self.skipped_spans, 'unknown span')} skipped ({top})")
        if self.unanswered_tool_calls:
            parts.append(
                f"{counted(self.unanswered_tool_calls, 'tool call')} without a result skipped"
            )
        if self.unanswered_messages:
            parts.append(
                f"{counted(self.unanswered_messages, 'agent message')} without a user reply "
                "(final answers) not made steps"
            )
        if self.nameless_tool_calls:
            parts.append(
                f"{counted(self.nameless_tool_calls, 'tool call')} without a tool name skipped"
            )
        if self.wrapped_arguments:
            broken = (
                f", {self.broken_arguments} of them JSON that does not parse (cut short?)"
                if self.broken_arguments
                else ""
            )
            parts.append(
                f"{counted(self.wrapped_arguments, 'tool call')} with arguments that are not a "
                f'JSON object kept as {{"input": ...}}{broken}'
            )
        if self.empty_traces:
            parts.append(f"{counted(len(self.empty_traces), 'trace')} without steps skipped")
        return "; ".join(parts)

"""Trace sources other than files: `source=mlflow` reads an MLflow tracking store's traces.

MLflow's own trace search API gives each trace's spans with their type, inputs and outputs; they
are read as the GenAI conventions would have them: a `TOOL` span is a tool call (inputs the
arguments, outputs the result), a `CHAT_MODEL`/`LLM` span a chat (`inputs.messages` in, the
outputs, e.g. an OpenAI response with `choices`, out), an `AGENT` span the agent's run. Other spans
are skipped and counted, like unknown spans in a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from wmh.config.schema import WmhConfig
from wmh.errors import ConfigError
from wmh.ingest.otlp import SpanRecord
from wmh.ingest.reader import IngestResult, input_files, read_spans, read_traces

_CHAT_TYPES = {"CHAT_MODEL", "LLM"}


def _json(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def _attributes(span_type: str, name: str, inputs: Any, outputs: Any) -> dict[str, Any]:
    if span_type == "TOOL":
        return {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": _json(inputs if inputs is not None else {}),
            "gen_ai.tool.call.result": _json(outputs if outputs is not None else ""),
        }
    if span_type in _CHAT_TYPES:
        messages = inputs.get("messages", inputs) if isinstance(inputs, dict) else inputs
        attributes = {"gen_ai.operation.name": "chat"}
        if messages is not None:
            attributes["gen_ai.input.messages"] = _json(messages)
        if outputs is not None:
            attributes["gen_ai.output.messages"] = _json(outputs)
        return attributes
    if span_type == "AGENT":
        return {"gen_ai.operation.name": "invoke_agent"}
    return {"mlflow.spanType": span_type}


def mlflow_spans(
    tracking_uri: str, experiment: str, filter_string: str = ""
) -> Iterator[SpanRecord]:
    """Every span of the experiment's traces, through `MlflowClient.search_traces`."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri or None)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ConfigError(
            f"source.experiment: no MLflow experiment {experiment!r} at {tracking_uri}"
        )
    label = f"mlflow:{experiment}"
    token = None
    while True:
        page = client.search_traces(
            locations=[found.experiment_id],
            filter_string=filter_string or None,
            max_results=100,
            page_token=token,
        )
        for trace in page:
            trace_id = trace.info.trace_id.removeprefix("tr-")
            for seq, span in enumerate(trace.data.spans):
                status = getattr(span.status, "status_code", "")
                yield SpanRecord(
                    trace_id=trace_id,
                    span_id=span.span_id,
                    parent_id=span.parent_id or "",
                    name=span.name,
                    start_ns=int(span.start_time_ns or 0),
                    end_ns=int(span.end_time_ns or span.start_time_ns or 0),
                    attributes=_attributes(
                        str(span.span_type or ""), span.name, span.inputs, span.outputs
                    ),
                    is_error=str(status).endswith("ERROR"),
                    status_message=str(getattr(span.status, "description", "") or ""),
                    path=label,
                    line=None,
                    where=f"trace {trace.info.trace_id}",
                    seq=seq,
                )
        token = page.token
        if not token:
            return


def ingest(settings: WmhConfig) -> IngestResult:
    """The traces `settings.source` names: files (`data.files`, `data.path`) or an MLflow store."""
    source = settings.source
    if source.name == "files":
        return read_traces(input_files(settings.data), settings.data.skip_empty_traces)
    if source.name == "mlflow":
        if not source.experiment:
            raise ConfigError("source=mlflow needs source.experiment (the experiment's name)")
        spans = mlflow_spans(source.tracking_uri, source.experiment, source.filter)
        label = f"mlflow:{source.experiment}"
        return read_spans(spans, [label], settings.data.skip_empty_traces)
    raise ConfigError(f"source must be files or mlflow, got {source.name!r}")

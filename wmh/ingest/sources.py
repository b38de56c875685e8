"""Trace sources other than files: `source=mlflow` reads an MLflow tracking store's traces,
`source=phoenix` an Arize Phoenix server's spans.

MLflow's own trace search API gives each trace's spans with their type, inputs and outputs; they
are read as the GenAI conventions would have them: a `TOOL` span is a tool call (inputs the
arguments, outputs the result), a `CHAT_MODEL`/`LLM` span a chat (`inputs.messages` in, the
outputs, e.g. an OpenAI response with `choices`, out), an `AGENT` span the agent's run. Other spans
are skipped and counted, like unknown spans in a file.

Phoenix keeps each span's attributes as they were sent (flattened, e.g. OpenInference's
`llm.input_messages.0.message.role`) apart from the OpenInference span kind, which it returns as
`span_kind`; that is put back, and the conventions module reads the span like one from a file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson

from wmh.capture.otlp_json import key_values
from wmh.config.schema import WmhConfig
from wmh.core.secrets import url_without_credentials
from wmh.core.text import counted
from wmh.core.types import Trace
from wmh.errors import ConfigError
from wmh.ingest.otlp import SpanRecord
from wmh.ingest.reader import IngestResult, fold_spans, fold_traces, input_files
from wmh.ingest.report import IngestReport, store_label

_CHAT_TYPES = {"CHAT_MODEL", "LLM"}


def _json(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def _exception_message(span: Any) -> str:
    """What a raised exception said (MLflow records it as an `exception` event)."""
    for event in getattr(span, "events", None) or []:
        if event.name == "exception":
            return str((event.attributes or {}).get("exception.message", ""))
    return ""


def _attributes(
    span_type: str, name: str, inputs: Any, outputs: Any, error: str = ""
) -> dict[str, Any]:
    if span_type == "TOOL":
        # A tool that raised has no outputs: the agent saw the exception's message.
        result = outputs if outputs is not None else error
        return {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": _json(inputs if inputs is not None else {}),
            "gen_ai.tool.call.result": _json(result),
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
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri or None)
    where = url_without_credentials(tracking_uri) if tracking_uri else "MLFLOW_TRACKING_URI"
    try:
        found = client.get_experiment_by_name(experiment)
    except MlflowException as exc:  # an unreachable server, after MLflow's own retries
        # Its message repeats the URL, credentials and all: only its kind is shown.
        raise ConfigError(
            f"source.tracking_uri: cannot read MLflow at {where} ({type(exc).__name__}: "
            "is the server up, and the URI right?)"
        ) from None
    if found is None:
        raise ConfigError(
            f"source.experiment: no MLflow experiment {experiment!r} at "
            f"{url_without_credentials(tracking_uri)}"
        )
    label = store_label("mlflow", experiment)
    token = None
    while True:
        try:
            page = client.search_traces(
                locations=[found.experiment_id],
                filter_string=filter_string or None,
                max_results=100,
                page_token=token,
            )
        except MlflowException as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE" and filter_string:
                reason = str(exc.message).splitlines()[0][:300]
                raise ConfigError(
                    f"source.filter {filter_string!r} is not a filter MLflow's trace search "
                    f"takes: {reason}"
                ) from None
            raise ConfigError(  # its message may repeat the URL, credentials and all
                f"source.tracking_uri: cannot search the traces of MLflow at {where} "
                f"({type(exc).__name__}: is the server up, and the URI right?)"
            ) from None
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
                        str(span.span_type or ""),
                        span.name,
                        span.inputs,
                        span.outputs,
                        _exception_message(span),
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


def _ns(stamp: str | None) -> int:
    if not stamp:
        return 0
    moment = datetime.fromisoformat(stamp)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _phoenix_record(span: dict[str, Any], label: str, seq: int) -> SpanRecord:
    context = span.get("context") or {}
    attributes = dict(span.get("attributes") or {})
    kind = str(span.get("span_kind") or "")
    if kind and kind != "UNKNOWN":
        attributes.setdefault("openinference.span.kind", kind)
    events = [
        {
            "name": event.get("name", ""),
            "attributes": key_values(event.get("attributes")),
        }
        for event in span.get("events") or []
    ]
    trace_id = str(context.get("trace_id") or "")
    return SpanRecord(
        trace_id=trace_id,
        span_id=str(context.get("span_id") or ""),
        parent_id=str(span.get("parent_id") or ""),
        name=str(span.get("name") or ""),
        start_ns=_ns(span.get("start_time")),
        end_ns=_ns(span.get("end_time") or span.get("start_time")),
        attributes=attributes,
        is_error=span.get("status_code") == "ERROR",
        status_message=str(span.get("status_message") or ""),
        path=label,
        line=None,
        where=f"trace {trace_id}",
        seq=seq,
        events=events,
    )


def phoenix_spans(endpoint: str, project: str) -> Iterator[SpanRecord]:
    """Every span of a Phoenix project, through the Phoenix client's span API."""
    try:
        import httpx
        from phoenix.client import Client
    except ImportError:
        raise ConfigError(
            "source=phoenix needs the Phoenix client: pip install 'wmh[phoenix]'"
        ) from None
    client = Client(base_url=endpoint or None)
    where = (
        url_without_credentials(endpoint)
        if endpoint
        else "PHOENIX_COLLECTOR_ENDPOINT (default http://localhost:6006)"
    )
    try:
        spans = client.spans.get_spans(project_identifier=project, limit=sys.maxsize)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            missing = f"source.project: no Phoenix project {project!r} at {where}"
            raise ConfigError(missing) from None
        raise ConfigError(
            f"source.endpoint: Phoenix at {where} answered {exc.response.status_code} for "
            f"project {project!r}"
        ) from None
    except httpx.TransportError as exc:
        raise ConfigError(
            f"source.endpoint: cannot reach Phoenix at {where} ({type(exc).__name__})"
        ) from None
    label = store_label("phoenix", project)
    # The API lists newest first; its order of insertion breaks ties of equal start times.
    for seq, span in enumerate(reversed(spans)):
        yield _phoenix_record(span, label, seq)


def ingest(settings: WmhConfig) -> IngestResult:
    """The traces `settings.source` names: files (`data.files`, `data.path`), an MLflow store or
    a Phoenix server."""
    traces: list[Trace] = []
    report = ingest_into(settings, traces.append)
    return IngestResult(traces=traces, report=report)


def ingest_into(settings: WmhConfig, take: Callable[[Trace], None]) -> IngestReport:
    """`ingest`, each trace handed to `take` as soon as it is assembled (`fold_spans`)."""
    source = settings.source
    skip_empty = settings.data.skip_empty_traces
    if source.name == "files":
        return fold_traces(input_files(settings.data), take, skip_empty)
    if source.name == "mlflow":
        if not source.experiment:
            raise ConfigError("source=mlflow needs source.experiment (the experiment's name)")
        spans = mlflow_spans(source.tracking_uri, source.experiment, source.filter)
        label = store_label("mlflow", source.experiment)
        return _said(fold_spans(spans, [label], take, skip_empty), settings)
    if source.name == "phoenix":
        if not source.project:
            raise ConfigError("source=phoenix needs source.project (the Phoenix project's name)")
        spans = phoenix_spans(source.endpoint, source.project)
        label = store_label("phoenix", source.project)
        return _said(fold_spans(spans, [label], take, skip_empty), settings)
    raise ConfigError(f"source must be files, mlflow or phoenix, got {source.name!r}")


def _said(report: IngestReport, settings: WmhConfig) -> IngestReport:
    """The trace files a store source does not read, named in its report (a --file given with
    source=mlflow was dropped without a word)."""
    files = [*settings.data.files, *([settings.data.path] if settings.data.path else [])]
    if files:
        report.not_read.append(
            f"{counted(len(files), 'trace file')} of data.files / data.path not read "
            f"(source={settings.source.name} reads only its store): {', '.join(files)}"
        )
    return report

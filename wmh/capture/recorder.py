"""Record scripted or real agent episodes as GenAI-convention spans, deterministically.

Each episode is an `invoke_agent` span holding `chat` spans (the model's input history and output)
and `execute_tool` spans (name, call id, arguments, result). A seeded id generator and a logical
clock make the same run produce the same file byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context

from wmh.capture.otlp_json import OtlpJsonLinesExporter

EPOCH_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z: a fixed start for logical time


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from a seeded RNG, so a capture is reproducible."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


class LogicalClock:
    """Monotonic nanosecond timestamps that advance by fixed ticks, not by wall time."""

    def __init__(self, start_ns: int = EPOCH_NS, tick_ns: int = 1_000_000) -> None:
        self.now = start_ns
        self.tick = tick_ns

    def __call__(self, ticks: int = 1) -> int:
        self.now += self.tick * ticks
        return self.now


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


class EpisodeRecording:
    """One agent run being recorded: the conversation so far and the open root span."""

    def __init__(self, recorder: TraceRecorder, root: Span, task: str) -> None:
        self._recorder = recorder
        self._root = root
        self._context = set_span_in_context(root)
        self.messages: list[dict[str, Any]] = [{"role": "user", "parts": [_text(task)]}]
        self._calls = 0
        self._exported = 0  # how many messages some chat span has written so far

    def _chat(self, output: dict[str, Any] | None) -> None:
        """A `chat` span: the history so far as input, `output` (if any) as the model's answer."""
        clock = self._recorder.clock
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self._recorder.model,
            "gen_ai.input.messages": json.dumps(self.messages, ensure_ascii=False),
        }
        if output is not None:
            attributes["gen_ai.output.messages"] = json.dumps([output], ensure_ascii=False)
        span = self._recorder.tracer.start_span(
            f"chat {self._recorder.model}",
            context=self._context,
            attributes=attributes,
            start_time=clock(),
        )
        span.end(end_time=clock())
        if output is not None:
            self.messages.append(output)
        self._exported = len(self.messages)

    def call_tool(self, name: str, arguments: dict[str, Any], run: Any) -> tuple[str, bool]:
        """Record the model asking for a tool, then execute it with `run(arguments)`.

        `run` returns `(result_text, is_error)`; the result is what the real system returned.
        """
        self._calls += 1
        call_id = f"call_{self._calls}"
        part = {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}
        self._chat({"role": "assistant", "parts": [part], "finish_reason": "tool_call"})
        clock = self._recorder.clock
        span = self._recorder.tracer.start_span(
            f"execute_tool {name}",
            context=self._context,
            start_time=clock(),
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": json.dumps(arguments, ensure_ascii=False),
            },
        )
        result, is_error = run(arguments)
        span.set_attribute("gen_ai.tool.call.result", result)
        if is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, result[:200]))
        span.end(end_time=clock())
        self.messages.append(
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": call_id, "response": result}],
            }
        )
        return result, is_error

    def finish(self) -> None:
        """Write messages no chat span has carried yet (a final user reply) in a closing span.

        A reply reaches the file as part of the next chat span's input; an episode that ends
        on one gets a last `chat` span with the full history and no output.
        """
        if self._exported >= len(self.messages) or self.messages[-1]["role"] != "user":
            return
        self._chat(None)

    def say(self, text: str, reply: str | None = None) -> None:
        """Record an agent message; `reply` is the user's answer (the environment's observation)."""
        self._chat({"role": "assistant", "parts": [_text(text)], "finish_reason": "stop"})
        if reply is not None:
            self.messages.append({"role": "user", "parts": [_text(reply)]})


class TraceRecorder:
    """Writes episodes to an OTLP JSON lines file through the OpenTelemetry SDK."""

    def __init__(
        self,
        path: str | Path,
        seed: int = 0,
        service: str = "agent",
        agent: str = "agent",
        model: str = "scripted-policy",
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
        self.clock = LogicalClock()
        self.model = model
        self.agent = agent
        # Resource(...) rather than Resource.create(...): the SDK's detectors would add a random
        # service.instance.id and the SDK version, and the capture would not be reproducible.
        resource = Resource({"service.name": service, "service.instance.id": f"{service}-{seed}"})
        self._provider = TracerProvider(
            resource=resource,
            id_generator=SeededIdGenerator(seed),
        )
        self._exporter = OtlpJsonLinesExporter(path)
        self._provider.add_span_processor(
            BatchSpanProcessor(
                self._exporter, schedule_delay_millis=3_600_000, max_export_batch_size=512
            )
        )
        self.tracer = self._provider.get_tracer("wmh.capture")

    @contextmanager
    def episode(self, task: str) -> Iterator[EpisodeRecording]:
        """Record one agent run as an `invoke_agent` trace."""
        root = self.tracer.start_span(
            f"invoke_agent {self.agent}",
            start_time=self.clock(),
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": self.agent,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [_text(task)]}], ensure_ascii=False
                ),
            },
        )
        episode = EpisodeRecording(self, root, task)
        try:
            yield episode
            episode.finish()
        finally:
            root.end(end_time=self.clock())
            self.clock(1000)  # a gap between episodes

    def close(self) -> None:
        self._provider.force_flush()
        self._provider.shutdown()

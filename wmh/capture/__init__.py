"""Record agent runs as OpenTelemetry GenAI traces (OTLP JSON lines), reproducibly.

Used by the example capture scripts, and by anyone instrumenting an agent for wmh by hand.
"""

from wmh.capture.otlp_json import OtlpJsonLinesExporter, span_to_otlp
from wmh.capture.recorder import EpisodeRecording, TraceRecorder

__all__ = ["EpisodeRecording", "OtlpJsonLinesExporter", "TraceRecorder", "span_to_otlp"]

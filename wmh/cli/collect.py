"""`wmh collect --out FILE`: receive OTLP/HTTP trace exports into a corpus file."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from wmh.cli.common import console
from wmh.errors import ConfigError


def collect(
    out: Path = typer.Option(..., "--out", help="Corpus file to append exports to (JSONL)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address."),
    port: int = typer.Option(4318, "--port", help="Port (OTLP/HTTP's default is 4318)."),
    max_mib: float = typer.Option(
        32, "--max-mib", help="Refuse (413) an export larger than this, sent or decompressed."
    ),
) -> None:
    """Collect OTLP/HTTP trace exports (protobuf or JSON, POST /v1/traces) into FILE."""
    import uvicorn

    from wmh.ingest.collect import Collector, create_collector_app

    if not 1 <= port <= 65535:  # uvicorn would listen on the port modulo 65536
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    if not (math.isfinite(max_mib) and max_mib > 0):
        raise ConfigError(f"--max-mib must be a number above 0, got {max_mib}")
    collector = Collector(out, max(1, int(max_mib * 2**20)))
    if collector.repaired_bytes:
        console.print(
            f"{out}: cut an unterminated last line ({collector.repaired_bytes} bytes, an export "
            "a stopped collector was writing)"
        )
    console.print(
        f"collecting traces at http://{host}:{port}/v1/traces into {out} "
        f"(OTEL_EXPORTER_OTLP_ENDPOINT=http://{host}:{port}); Ctrl-C to stop"
    )
    uvicorn.run(create_collector_app(collector), host=host, port=port, log_level="warning")
    console.print(f"{collector.exports} exports, {collector.spans} spans written to {out}")

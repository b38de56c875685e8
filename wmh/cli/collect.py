"""`wmh collect --out FILE`: receive OTLP/HTTP trace exports into a corpus file."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import typer

from wmh.cli.common import console
from wmh.errors import ConfigError


def _check_port_free(host: str, port: int) -> None:
    """ConfigError if nothing could listen at host:port (uvicorn said so only after the banner,
    exiting with 3, an empty --out file made)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another collector or "
                "server there? Pick another --port"
            ) from None


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

    from wmh.ingest.collect import Collector, check_corpus_path, create_collector_app

    if not 1 <= port <= 65535:  # uvicorn would listen on the port modulo 65536
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    if not (math.isfinite(max_mib) and max_mib > 0):
        raise ConfigError(f"--max-mib must be a number above 0, got {max_mib}")
    existed = out.exists()
    check_corpus_path(out)  # the file's path first; the port before the file is repaired
    try:
        _check_port_free(host, port)  # before the banner
    except ConfigError:
        if not existed and out.is_file() and not out.stat().st_size:
            out.unlink()  # made by the check above: nothing left behind
        raise
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

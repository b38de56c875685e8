"""`wmh serve`: the HTTP backend over locally built world models (uvicorn)."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import orjson
import typer
from omegaconf import OmegaConf

from wmh.cli.common import RootOption, console
from wmh.config.compose import compose_config, quote_override
from wmh.config.schema import ServeConfig
from wmh.errors import ConfigError


def serve_settings(overrides: list[str]) -> ServeConfig:
    """`conf/serve` composed with `serve.*` overrides."""
    cfg = compose_config(overrides)
    try:
        return OmegaConf.to_object(cfg.serve)  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - OmegaConf raises several kinds; all are config errors
        raise ConfigError(str(exc).splitlines()[0]) from None


def run_workers(settings: ServeConfig, log_level: str) -> None:
    """uvicorn with `settings.workers` processes sharing one listening socket.

    The socket is made here rather than by uvicorn: uvicorn creates it with protocol 0, so asyncio
    never sets TCP_NODELAY on the connections it accepts and each small response waits about 40 ms
    for the client's delayed ACK (measured: 45 ms per request with 2 workers, 1 ms with one)."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "wmh.serving.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
    )
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def serve(
    name: list[str] = typer.Option(None, "--name", help="Serve only these models (repeatable)."),
    root: Path = RootOption,
    host: str = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    workers: int = typer.Option(None, "--workers", help="Worker processes (>1 needs Redis)."),
    session_store: str = typer.Option(None, "--session-store", help="memory or redis."),
    redis_url: str = typer.Option(None, "--redis-url", help="redis://host:port/db"),
    override: list[str] = typer.Option(
        None, "-o", "--override", help="Config override, e.g. serve.max_sessions=64."
    ),
    log_level: str = typer.Option(
        "info", "--log-level", help="uvicorn log level (info logs every request; warning does not)."
    ),
) -> None:
    """Serve world models over HTTP (OpenAPI at /docs)."""
    import uvicorn

    from wmh.serving.app import (
        ARGS_ENV,
        check_models,
        check_serve_config,
        create_app,
        load_registry,
    )

    overrides = list(override or [])
    for key, value in (
        ("host", host),
        ("port", port),
        ("workers", workers),
        ("session_store", session_store),
        ("redis_url", redis_url),
    ):
        if value is not None:
            overrides.append(f"serve.{key}={quote_override(str(value))}")
    settings = serve_settings(overrides)
    check_serve_config(settings)
    names = list(name or [])
    where = f"http://{settings.host}:{settings.port}"

    def announce(served: list[str]) -> None:
        console.print(
            f"serving {', '.join(sorted(served))} on {where} (docs at {where}/docs; "
            f"sessions: {settings.session_store}, {settings.workers} worker(s))"
        )

    if settings.workers == 1:
        registry = load_registry(root, names, settings)
        announce(list(registry.models))
        uvicorn.run(
            create_app(registry), host=settings.host, port=settings.port, log_level=log_level
        )
        return
    # Each worker loads the models itself; here only check, cheaply, that they and Redis are
    # there, so a bad root, name or URL fails before any worker starts.
    announce(check_models(root, names, settings))
    os.environ[ARGS_ENV] = orjson.dumps(
        {"root": str(root), "names": names, "serve": asdict(settings)}
    ).decode()
    run_workers(settings, log_level)

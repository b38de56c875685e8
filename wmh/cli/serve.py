"""`wmh serve`: the HTTP backend over locally built world models (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from wmh.cli.common import RootOption, console
from wmh.config.compose import quote_override
from wmh.core.text import counted


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
    """Serve world models over HTTP (OpenAPI at /docs). `-o reward=rubric` or `-o reward=success`
    lets `POST .../score` grade episodes."""
    from uvicorn.config import LOG_LEVELS

    from wmh.errors import ConfigError
    from wmh.serving.auth import configured_token
    from wmh.serving.settings import check_serve_config, server_settings
    from wmh.serving.workers import serve_models

    if log_level.lower() not in LOG_LEVELS:  # before the models load, not after
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

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
    server = server_settings(overrides)
    settings = server.serve
    check_serve_config(settings)
    configured_token(None)  # an empty $WMH_API_TOKEN is refused before anything loads
    where = f"http://{settings.host}:{settings.port}"

    def announce(served: list[str]) -> None:
        console.print(
            f"serving {', '.join(sorted(served))} on {where} (docs at {where}/docs; "
            f"sessions: {settings.session_store}, {counted(settings.workers, 'worker')})"
        )

    serve_models(root, list(name or []), server, log_level, announce)

"""`wmh serve`: the HTTP backend over locally built world models (uvicorn)."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import orjson
import typer
from omegaconf import OmegaConf

from wmh.cli.common import RootOption, console, quote_override
from wmh.config.compose import compose_config
from wmh.config.schema import ServeConfig
from wmh.errors import ConfigError


def serve_settings(overrides: list[str]) -> ServeConfig:
    """`conf/serve` composed with `serve.*` overrides."""
    cfg = compose_config(overrides)
    try:
        return OmegaConf.to_object(cfg.serve)  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - OmegaConf raises several kinds; all are config errors
        raise ConfigError(str(exc).splitlines()[0]) from None


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
) -> None:
    """Serve world models over HTTP (OpenAPI at /docs)."""
    import uvicorn

    from wmh.serving.app import ARGS_ENV, check_serve_config, create_app, load_registry

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
    # Load once here so a bad root or name fails before any worker starts.
    registry = load_registry(root, names, settings)
    where = f"http://{settings.host}:{settings.port}"
    console.print(
        f"serving {', '.join(sorted(registry.models))} on {where} (docs at {where}/docs; "
        f"sessions: {settings.session_store}, {settings.workers} worker(s))"
    )
    if settings.workers == 1:
        uvicorn.run(create_app(registry), host=settings.host, port=settings.port, log_level="info")
        return
    os.environ[ARGS_ENV] = orjson.dumps(
        {"root": str(root), "names": names, "serve": asdict(settings)}
    ).decode()
    uvicorn.run(
        "wmh.serving.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
    )

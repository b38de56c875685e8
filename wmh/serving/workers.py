"""Run the HTTP backend: in this process with one worker, or as uvicorn worker processes that
share one listening socket and each load the models themselves (what to serve reaches them as
JSON in `$WMH_SERVE_ARGS`, read by `app_from_env`, uvicorn's app factory)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import orjson
from fastapi import FastAPI

from wmh.config.schema import ProviderConfig, RewardConfig, ServeConfig
from wmh.errors import ConfigError
from wmh.serving.app import create_app
from wmh.serving.registry import check_models, load_registry
from wmh.serving.settings import ServeSettings

ARGS_ENV = "WMH_SERVE_ARGS"


def serve_models(
    root: str | Path,
    names: list[str],
    server: ServeSettings,
    log_level: str,
    announce: Callable[[list[str]], None],
) -> None:
    """Serve the named models of the store at `root` (all of them when `names` is empty) until
    stopped; `announce(models)` is called once they are known to be servable."""
    import uvicorn

    settings = server.serve
    if settings.workers == 1:
        registry = load_registry(root, names, settings, server=server)
        announce(list(registry.models))
        uvicorn.run(
            create_app(registry), host=settings.host, port=settings.port, log_level=log_level
        )
        return
    # Each worker loads the models itself; here only check, cheaply, that they and Redis are
    # there, so a bad root, name or URL fails before any worker starts.
    announce(check_models(root, names, settings, server))
    os.environ[ARGS_ENV] = orjson.dumps(
        {
            "root": str(root),
            "names": names,
            "serve": asdict(settings),
            "reward": asdict(server.reward),
            "provider": asdict(server.provider),
            "overrides": server.overrides,
        }
    ).decode()
    run_workers(settings, log_level)


def run_workers(settings: ServeConfig, log_level: str) -> None:
    """uvicorn with `settings.workers` processes sharing one listening socket.

    The socket is made here rather than by uvicorn: uvicorn creates it with protocol 0, so asyncio
    never sets TCP_NODELAY on the connections it accepts and each small response waits about 40 ms
    for the client's delayed ACK (measured: 45 ms per request with 2 workers, 1 ms with one)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "wmh.serving.workers:app_from_env",
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


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` workers: what to serve comes from $WMH_SERVE_ARGS (JSON
    written by `serve_models`), since each worker process loads the models itself."""
    raw = os.environ.get(ARGS_ENV)
    if not raw:
        raise ConfigError(f"${ARGS_ENV} is not set: start workers with wmh serve")
    args = orjson.loads(raw)
    server = ServeSettings(
        ServeConfig(**args["serve"]),
        RewardConfig(**args.get("reward", {})),
        ProviderConfig(**args.get("provider", {})),
        list(args.get("overrides", [])),
    )
    return create_app(load_registry(args["root"], args["names"], server.serve, server=server))

"""`wmh mcp --name NAME`: serve a world model's recorded tools to MCP clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from wmh.cli.common import RootOption
from wmh.errors import ConfigError


def mcp(
    name: str = typer.Option(..., "--name", "-n", help="World model whose tools to serve."),
    root: Path = RootOption,
    transport: str = typer.Option("stdio", "--transport", help="stdio or http."),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address for http."),
    port: int = typer.Option(
        8765, "--port", min=1, max=65535, help="Port for http (endpoint /mcp)."
    ),
    task: str = typer.Option("", "--task", help="Task of the episode each connection opens."),
    override: list[str] = typer.Option(
        None, "-o", "--override", help="Config override, e.g. reward=success."
    ),
) -> None:
    """Serve a world model as an MCP server (tools inferred from its traces)."""
    from wmh.serving.mcp_server import serve_http, serve_stdio
    from wmh.serving.registry import served_model
    from wmh.serving.settings import server_settings
    from wmh.store.loader import load_world_model
    from wmh.store.store import WorldModelStore

    if transport not in ("stdio", "http"):
        raise ConfigError(f"--transport must be stdio or http, got {transport!r}")
    model_dir = WorldModelStore(root).resolve(name)
    # -o provider.*, predictor.*, retrieval.* change the model as in `wmh play`
    settings, reward = served_model(model_dir, server_settings(list(override or [])), root)
    wm, _ = load_world_model(model_dir, settings=settings)
    wm.reward = reward
    wm.tool_schemas()  # inferred once, before the first client asks
    if transport == "stdio":
        asyncio.run(serve_stdio(wm, task))
    else:
        serve_http(wm, host, port, task)

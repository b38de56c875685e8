"""`wmh ui`: the MLflow UI over the project's tracking store, on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from wmh.cli.common import RootOption, console
from wmh.tracking.mlflow_runs import tracking_uri


def ui_command(host: str, port: int, root: Path | None = None) -> list[str]:
    """The `mlflow server` command line for the store under `root`."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri(root),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (local by default)."),
    port: int = typer.Option(5000, "--port", help="Port of the UI."),
    root: Path = RootOption,
) -> None:
    """Start the MLflow UI on the tracking store builds and evals log to (Ctrl-C stops it)."""
    console.print(f"MLflow UI for {tracking_uri(root)} on http://{host}:{port}")
    command = ui_command(host, port, root)
    # The server takes this process's place, so stopping `wmh ui` stops the server.
    os.execv(command[0], command)

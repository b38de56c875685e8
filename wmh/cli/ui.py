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


# MLflow 3's UI opens every experiment in its global mode (GenAI, unless the person switched it to
# "Model training", which it remembers in the browser), whatever the experiment's kind tag says;
# a link that names the mode opens wmh's experiments on their runs table.
MODEL_TRAINING = "workflowType=machine_learning"


def experiment_links(base_url: str, root: Path | None = None) -> list[tuple[str, str]]:
    """(name, link to its runs table) of every experiment in the store that has runs."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(root))
    links = []
    for experiment in client.search_experiments():
        if experiment.name == "Default" and not client.search_runs([experiment.experiment_id]):
            continue
        url = f"{base_url}/#/experiments/{experiment.experiment_id}/runs?{MODEL_TRAINING}"
        links.append((experiment.name, url))
    return links


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (local by default)."),
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="Port of the UI."),
    root: Path = RootOption,
) -> None:
    """Start the MLflow UI on the tracking store builds and evals log to (Ctrl-C stops it)."""
    base_url = f"http://{host}:{port}"
    home = f"{base_url}/#/experiments?{MODEL_TRAINING}"
    console.print(f"MLflow UI for {tracking_uri(root)} on {home}", highlight=False, soft_wrap=True)
    try:
        links = experiment_links(base_url, root)
    except Exception as exc:  # noqa: BLE001 - the links are a convenience; the UI still starts
        links = []
        console.print(f"(could not list the experiments: {exc})")
    for name, url in links:
        console.print(f"  {name}: {url}", highlight=False, soft_wrap=True)
    command = ui_command(host, port, root)
    sys.stdout.flush()
    # The server takes this process's place, so stopping `wmh ui` stops the server.
    os.execv(command[0], command)

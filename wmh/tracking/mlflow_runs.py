"""Log wmh runs to MLflow: flattened config as params (secrets redacted), figures as metrics.

The default store is a SQLite file under the store root (`<root>/mlflow.db`, artifacts in
`<root>/mlruns/`), so `--root elsewhere` keeps MLflow there too; `MLFLOW_TRACKING_URI` points at
any other store or tracking server.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wmh.core.secrets import url_without_credentials
from wmh.errors import WmhError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# Keys that name a secret: keys, passwords, credentials, and tokens that authenticate — not any
# key with "token" in it (`provider.max_tokens` is a number to compare runs by).
_SECRET = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|credential|authorization|bearer"
    r"|(^|[._-])(access|auth|api|bearer|refresh|session|id)[_-]?token$|^token$)",
    re.I,
)
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
MAX_PARAM = 500


def tracking_uri(root: str | Path | None = None) -> str:
    """`$MLFLOW_TRACKING_URI`, else the SQLite file under `root` (or the current directory)."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if given:
        return given
    if root is None:
        return DEFAULT_TRACKING_URI
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


PROBE_TIMEOUT_S = 3.0  # to connect to a tracking server, before MLflow's minutes of retries


class TrackingUnavailable(WmhError):
    """The tracking server does not take connections: nothing was logged."""


def server_problem(uri: str) -> str:
    """Why an HTTP tracking server cannot be reached ("" when it takes a connection, or the
    store is no server). MLflow retries a server that refuses for about two minutes; a run
    logged to one that is down would hold its command that long, then fail anyway."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(
        parts.hostname
    ):
        return ""  # reached through a proxy, as MLflow's client does: not probed directly
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "its port is not a number"
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return ""


def check_server(uri: str, instead: str = "") -> None:
    """TrackingUnavailable when `server_problem` finds one (the URL shown without credentials;
    `instead` says how to go on without it)."""
    problem = server_problem(uri)
    if problem:
        raise TrackingUnavailable(
            f"the MLflow server at {url_without_credentials(uri)} does not answer ({problem})"
            + (f": start it, or {instead}" if instead else "")
        )


def _experiment_under(root: str | Path, name: str) -> None:
    """Create the experiment with its artifacts under `root` (MLflow would put them in the
    current directory's `mlruns/`)."""
    import mlflow

    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(name) is None:
        location = (Path(root).resolve() / "mlruns").as_uri()
        client.create_experiment(name, artifact_location=location)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"a.b": "value"}, with secret-looking keys redacted."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif _SECRET.search(str(key)) or _SECRET.search(name):
            flat[name] = "<redacted>"
        else:
            flat[name] = str(value)[:MAX_PARAM]
    return flat


def metric_name(name: str) -> str:
    return _METRIC_NAME.sub("_", name)[:250]


@contextmanager
def _mlflow_env_untouched() -> Iterator[None]:
    """mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID (and the tracking URI) into the
    environment; a library call must not change what later runs or subprocesses see."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
            if key not in saved:
                del os.environ[key]
        os.environ.update(saved)


# MLflow 3 opens an experiment on its GenAI overview (traces) unless it is marked as one of model
# development, where it opens on the runs table: wmh's runs are builds, evaluations and studies.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"


def _mark_model_development(experiment_id: str) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    if EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)


@_mlflow_env_untouched()
def open_store(root: str | Path | None) -> None:
    """Open the store runs under `root` are logged to, as logging one would (a new SQLite store
    gets its schema): what the build's side process does while the build runs."""
    import mlflow

    _quiet()
    uri = tracking_uri(root)
    if server_problem(uri):  # logging the run says so, at once
        return
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().search_experiments(max_results=1)


def _quiet() -> None:
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@_mlflow_env_untouched()
def log_run(
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: list[Path],
    tags: Mapping[str, str] | None = None,
    series: Mapping[str, list[tuple[int, float]]] | None = None,
    root: str | Path | None = None,
    started_at: float | None = None,
) -> str:
    """One MLflow run in `experiment`; returns its run id. `series` are metrics by step. With
    no `$MLFLOW_TRACKING_URI`, the store is the one under `root`. `started_at` (epoch seconds)
    is when the work began, so the run's duration is the work's, not the logging's."""
    check_server(tracking_uri(root))
    import mlflow

    _quiet()
    under_root = root is not None and not os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri(root))  # (which exports $MLFLOW_TRACKING_URI)
    if os.environ.get("MLFLOW_RUN_ID"):
        # Launched by `mlflow run`: log into the run it created (its experiment, its name).
        context = mlflow.start_run()
    else:
        if under_root and root is not None:
            _experiment_under(root, experiment)
        chosen = mlflow.set_experiment(experiment)
        if started_at is None:
            context = mlflow.start_run(run_name=run_name)
        else:
            created = mlflow.MlflowClient().create_run(
                chosen.experiment_id, start_time=int(started_at * 1000), run_name=run_name
            )
            context = mlflow.start_run(run_id=created.info.run_id)
    with context as run:
        _mark_model_development(run.info.experiment_id)
        if params:
            mlflow.log_params(flatten(params))
        clean = {metric_name(k): float(v) for k, v in metrics.items()}
        if clean:
            mlflow.log_metrics(clean)
        for name, points in (series or {}).items():
            for step, value in points:
                mlflow.log_metric(metric_name(name), value, step=step)
        if tags:
            mlflow.set_tags({k: v for k, v in tags.items() if v})
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
        return str(run.info.run_id)

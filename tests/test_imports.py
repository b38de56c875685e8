"""What importing wmh costs a host process: no environment change, and a light gymnasium
adapter (no build pipeline, GEPA or MLflow tracking behind `import wmh.env.gym`)."""

from __future__ import annotations

import json

from tests.conftest import python_without_offline_defaults
from wmh.offline import OFFLINE_DEFAULTS


def _run(code: str) -> str:
    done = python_without_offline_defaults(code)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_wmh_leaves_the_environment_unchanged() -> None:
    code = (
        "import os\n"
        "before = dict(os.environ)\n"
        "import wmh\n"
        "from wmh import Action, ActionKind, Observation\n"
        "print(sorted(set(before.items()) ^ set(os.environ.items())))\n"
    )
    assert _run(code).strip() == "[]"


def test_the_public_api_and_the_gymnasium_adapter_set_no_offline_default() -> None:
    # (scikit-learn, behind the retrieval layer, sets its own KMP_* variables on import.)
    code = (
        "import json, os\n"
        "from wmh.config.store import WorldModelStore\n"
        "from wmh.engine.loader import load_world_model\n"
        "import wmh.env.gym\n"
        "print(json.dumps(sorted(os.environ)))\n"
    )
    assert set(json.loads(_run(code))) & set(OFFLINE_DEFAULTS) == set()


def test_the_gymnasium_adapter_imports_no_build_machinery() -> None:
    code = (
        "import json, sys\n"
        "import wmh.env.gym\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wmh.'))))\n"
    )
    loaded = json.loads(_run(code))
    assert "wmh.env.gym" in loaded
    heavy = [m for m in loaded if m.split(".")[1] in ("pipeline", "optimize", "tracking")]
    assert heavy == []

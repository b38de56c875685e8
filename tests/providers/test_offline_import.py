from __future__ import annotations

import os
import subprocess
import sys

from wmh.offline import OFFLINE_DEFAULTS


def test_litellm_imported_by_the_provider_layer_reads_the_cost_map_locally() -> None:
    code = (
        "import os\n"
        "from wmh.providers.llm import import_litellm\n"
        "litellm = import_litellm()\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])\n"
        "print(litellm.model_cost.get('gpt-4o-mini', {}).get('input_cost_per_token', 0) > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "fetch" not in done.stderr.lower() and "ConnectError" not in done.stderr

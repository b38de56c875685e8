from __future__ import annotations

import subprocess
import sys


def test_importing_wmh_and_litellm_reads_the_cost_map_locally() -> None:
    code = (
        "import wmh, os, litellm\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])\n"
        "print(litellm.model_cost.get('gpt-4o-mini', {}).get('input_cost_per_token', 0) > 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "fetch" not in done.stderr.lower() and "ConnectError" not in done.stderr

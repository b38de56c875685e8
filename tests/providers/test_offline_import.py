from __future__ import annotations

from tests.conftest import python_without_offline_defaults


def test_litellm_imported_by_the_provider_layer_reads_the_cost_map_locally() -> None:
    code = (
        "import os\n"
        "from wmh.offline import import_litellm\n"
        "litellm = import_litellm()\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])\n"
        "print(litellm.model_cost.get('gpt-4o-mini', {}).get('input_cost_per_token', 0) > 0)"
    )
    done = python_without_offline_defaults(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "fetch" not in done.stderr.lower() and "ConnectError" not in done.stderr

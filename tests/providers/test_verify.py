from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply
from wmh.pipeline.build import build_world_model
from wmh.providers.verify import verify_providers
from wmh.store.settings import model_providers
from wmh.store.store import WorldModelStore


def test_verify_passes_a_live_provider_fails_a_dead_one_and_skips_replay(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = Reply("OK")
    llm = [
        "provider=openai_compatible",
        "provider.model=openai/env",
        f"provider.api_base={fake_llm.api_base}",
        "provider.num_retries=0",
        "provider.timeout=5",
        "split.test=0",
        "split.valid=0",
        "split.train=1",
    ]
    build_world_model(make_settings(tmp_path, "live", [synthetic_corpus], *llm))
    build_world_model(make_settings(tmp_path, "offline", [synthetic_corpus]))
    # A provider that went away after its model was built (a build refuses a dead one).
    dead = build_world_model(make_settings(tmp_path, "dead", [synthetic_corpus], *llm)).path
    config = dead / "config.yaml"
    config.write_text(config.read_text().replace(fake_llm.api_base, "http://127.0.0.1:9/v1"))
    checks = {c.models[0]: c for c in verify_providers(model_providers(WorldModelStore(tmp_path)))}
    assert checks["live"].status == "pass"
    assert checks["offline"].status == "skipped"
    assert checks["dead"].status == "fail" and "openai/env" in checks["dead"].reason
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "providers", "verify", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1
    rows = {
        cells[4]: cells[0]
        for line in done.stdout.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 6
    }
    # One row per model, each with its own status.
    assert rows == {"dead": "fail", "live": "pass", "offline": "skipped"}


def test_a_provider_describes_its_endpoint_without_credentials() -> None:
    """`wmh play`'s banner shows the provider: its endpoint's password stays out of it."""
    from wmh.config.schema import ProviderConfig
    from wmh.providers.llm import LLMProvider

    config = ProviderConfig(
        name="openai_compatible", model="openai/m", api_base="http://a:hunter2-pw@127.0.0.1:9/v1"
    )
    assert (
        LLMProvider(config).describe()
        == "openai_compatible (openai/m at http://***@127.0.0.1:9/v1)"
    )

"""Secrets never reach artifacts, MLflow, results or answers: a canary key in the environment of an
LLM build (tracked, with GEPA), an eval and a served, scored session is found nowhere; and the
redaction of config keys redacts secrets, not every key with "token" in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.engine.test_llm import llm_overrides
from tests.fake_llm import FakeLLM, echo_environment
from tests.optimize.test_gepa import scripted
from wmh.core.secrets import redact_environment
from wmh.eval.results import save_report, track_report
from wmh.eval.service import EvalOptions, evaluate
from wmh.pipeline.build import build_world_model
from wmh.tracking.mlflow_runs import flatten

CANARY = "sk-canary-77ab31fe90"


def test_redaction_hides_secret_keys_and_keeps_token_counts() -> None:
    flat = flatten(
        {
            "provider": {"api_key": "x", "max_tokens": 1024, "model": "m"},
            "predictor": {"max_prompt_tokens": 2000},
            "auth": {"access_token": "y", "password": "z", "token": "t"},
        }
    )
    assert flat["provider.max_tokens"] == "1024" and flat["predictor.max_prompt_tokens"] == "2000"
    assert flat["provider.model"] == "m"
    for key in ("provider.api_key", "auth.access_token", "auth.password", "auth.token"):
        assert flat[key] == "<redacted>", key


def test_a_credential_of_eight_characters_is_redacted_from_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Credentials of eight characters or more are hidden wherever a library error echoes them:
    one of exactly eight was shown. Shorter values are left alone (they match ordinary words)."""
    monkeypatch.setenv("WMH_TEST_API_KEY", "k8-12345")
    monkeypatch.setenv("WMH_TEST_TOKEN", "t7-1234")
    said = redact_environment("401 for key k8-12345 (token t7-1234)")
    assert said == "401 for key <redacted> (token t7-1234)"


def test_a_canary_key_reaches_no_file_of_an_llm_build_gepa_run_and_eval(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    fake_llm.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
    settings = make_settings(
        tmp_path,
        "secret",
        [synthetic_corpus],
        *llm_overrides(fake_llm),
        "track=true",
        "gepa.budget=12",
        "gepa.valset_size=4",
        "gepa.reflection_model=openai/reflector",
    )
    built = build_world_model(settings)
    assert built.evolve is not None and built.evolve.rollouts > 0 and built.mlflow_run_id
    fake_llm.default = echo_environment
    report = evaluate(name="secret", root=tmp_path, options=EvalOptions(limit=3))
    track_report(report, save_report(report, tmp_path / "evals" / "secret.json"))
    # the key did reach the provider, as it must: the scripted server saw it on every call
    assert fake_llm.requests and set(fake_llm.api_keys) == {CANARY}
    leaks = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and CANARY.encode() in path.read_bytes()
    ]
    assert not leaks

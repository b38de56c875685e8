"""Settings a build refuses before it starts: credentials inside a URL (the config is saved with
the model and logged to MLflow) and weights that are not numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from wmh.config.compose import compose_config, to_settings
from wmh.config.schema import ProviderConfig
from wmh.core.secrets import url_without_credentials
from wmh.errors import ConfigError
from wmh.pipeline.build import build_world_model
from wmh.providers.openai_direct import APIConnectionError, DirectChat

PASSWORD = "hunter2-s3cret-pw"


def test_urls_lose_only_their_credentials() -> None:
    assert url_without_credentials(f"redis://:{PASSWORD}@127.0.0.1:6379/0") == (
        "redis://***@127.0.0.1:6379/0"
    )
    assert url_without_credentials(f"http://alice:{PASSWORD}@127.0.0.1:9/v1?x=1") == (
        "http://***@127.0.0.1:9/v1?x=1"
    )
    plain = "http://127.0.0.1:8000/v1?user=a@b.c"  # an @ after the host is no credential
    assert url_without_credentials(plain) == plain


def test_a_build_refuses_credentials_in_an_endpoint_and_writes_nothing(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    api_base = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "build", "--name", "s",
         "--file", str(synthetic_corpus), "--root", str(tmp_path), "--no-interactive",
         "-o", "track=true", "-o", "provider=openai_compatible",
         "-o", "provider.model=openai/env-model", "-o", f"provider.api_base={api_base}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1
    assert "provider.api_base carries credentials (http://***@127.0.0.1:9/v1)" in said
    assert PASSWORD not in done.stdout + done.stderr
    assert not (tmp_path / "models").exists()
    assert not [
        p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()
    ]


def test_an_unreachable_endpoint_is_named_without_its_credentials() -> None:
    config = ProviderConfig(
        name="openai_compatible",
        model="openai/env-model",
        api_base=f"http://alice:{PASSWORD}@127.0.0.1:9/v1",
    )
    with pytest.raises(APIConnectionError) as caught:
        DirectChat(config).complete({"messages": [], "num_retries": 0, "timeout": 5})
    assert str(caught.value).startswith("cannot reach http://***@127.0.0.1:9/v1/chat/completions")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("weight", ["nan", "inf", "-1"])
def test_a_context_weight_that_is_no_weight_is_refused_and_the_model_stays(
    tmp_path: Path, synthetic_corpus: Path, weight: str
) -> None:
    good = build_world_model(make_settings(tmp_path, "m", [synthetic_corpus])).path / "model.json"
    before = good.read_bytes()
    settings = make_settings(tmp_path, "m", [synthetic_corpus], f"embedder.context_weight={weight}")
    with pytest.raises(
        ConfigError, match=f"embedder.context_weight must be a number 0 or more, got {weight}"
    ):
        build_world_model(settings)
    assert good.read_bytes() == before


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["embedder=minilm", "embedder.dim=16"], "embedder=minilm makes 384-dimensional vectors"),
        (["embedder=minilm", "embedder.context_weight=0.5"], "is read only by embedder=hashing"),
        (["embedder=minilm", "embedder.batch_size=0"], "embedder.batch_size must be at least 1"),
        (["embedder.dim=4"], "embedder.dim must be at least 8, got 4"),
    ],
)
def test_an_embedder_setting_that_would_be_ignored_or_fail_is_refused(
    tmp_path: Path, synthetic_corpus: Path, overrides: list[str], said: str
) -> None:
    """MiniLM built with "dim 384" whatever embedder.dim said, and ignored the context weight;
    a batch size of 0 was a torch traceback after ingest."""
    with pytest.raises(ConfigError, match=said):
        build_world_model(make_settings(tmp_path, "m", [synthetic_corpus], *overrides))
    assert not (tmp_path / "models" / "m").exists()


@pytest.mark.parametrize(
    ("override", "instead"),
    [
        (f"source.tracking_uri=http://alice:{PASSWORD}@127.0.0.1:9", "MLFLOW_TRACKING_USERNAME"),
        (f"source.endpoint=http://bob:{PASSWORD}@127.0.0.1:9", "PHOENIX_API_KEY"),
        (f"serve.redis_url=redis://:{PASSWORD}@127.0.0.1:9/0", "wmh serve --redis-url"),
    ],
)
def test_credentials_in_a_store_or_session_url_are_refused_too(
    tmp_path: Path, synthetic_corpus: Path, override: str, instead: str
) -> None:
    """The model's config.yaml and MLflow params held these passwords."""
    key = override.split("=", 1)[0]
    settings = make_settings(tmp_path, "m", [synthetic_corpus], override)
    with pytest.raises(ConfigError) as refused:
        build_world_model(settings)
    assert str(refused.value).startswith(f"{key} carries credentials (")
    assert instead in str(refused.value) and PASSWORD not in str(refused.value)
    assert not (tmp_path / "models").exists()


def test_a_store_source_names_its_url_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wmh.config.schema import SourceConfig

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # its retries take minutes
    from wmh.ingest.sources import ingest

    for source in (
        SourceConfig(name="mlflow", tracking_uri=f"http://alice:{PASSWORD}@127.0.0.1:9",
                     experiment="nope"),
        SourceConfig(name="phoenix", endpoint=f"http://bob:{PASSWORD}@127.0.0.1:9", project="p"),
    ):  # fmt: skip
        settings = make_settings(tmp_path, "m", [])
        settings.source = source
        with pytest.raises(ConfigError) as failed:
            ingest(settings)
        assert "***@127.0.0.1:9" in str(failed.value) and PASSWORD not in str(failed.value)


def test_a_password_in_the_query_is_a_credential_too() -> None:
    """redis-py reads `redis://host/0?password=...`: that URL's password was shown whole in
    `wmh serve`'s error and saved with a built model's config (has_credentials said no)."""
    from wmh.core.secrets import has_credentials

    secret = "hunter2SECRET"
    url = f"redis://127.0.0.1:6379/0?db=0&password={secret}&ssl_cert_reqs=none"
    assert url_without_credentials(url) == (
        "redis://127.0.0.1:6379/0?db=0&password=***&ssl_cert_reqs=none"
    )
    assert has_credentials(url)
    shown = url_without_credentials(f"http://u:p@127.0.0.1:9/v1?Api_Key={secret}&token={secret}")
    assert shown == "http://***@127.0.0.1:9/v1?Api_Key=***&token=***"
    assert not has_credentials("http://127.0.0.1:9/v1?x=1&ssl_keyfile=/k.pem")
    # Names are read as words (and decoded, as redis-py decodes them): a key, a signed URL's
    # signature and an escaped `password` are credentials; `max_tokens` and `tokenizer` not.
    for name in ("key", "api-key", "access_key", "X-Amz-Signature", "sig", "pass%77ord"):
        assert url_without_credentials(f"http://h/v1?a=1&{name}={secret}") == (
            f"http://h/v1?a=1&{name}=***"
        )
    assert not has_credentials("http://h/v1?max_tokens=5&tokenizer=x")
    assert url_without_credentials("http://[bad") == "http://[bad"  # no URL: as it is


def test_urls_inside_a_text_are_shown_without_their_credentials() -> None:
    """A sweep's choices, a list, or an error message quoting an override: each URL in it is
    shown without its password, one with a comma in it too."""
    from wmh.core.secrets import holds_credentials, redact_urls

    assert redact_urls(f"http://a/v1,http://u:{PASSWORD}@h/v1") == "http://a/v1,http://***@h/v1"
    assert redact_urls(f"[redis://h/0?password={PASSWORD}]") == "[redis://h/0?password=***]"
    said = f"Ambiguous value for argument 'provider.api_base=http://u:hun,{PASSWORD}@h/v1'"
    assert PASSWORD not in redact_urls(said)
    assert holds_credentials(f"choice(http://a,http://u:{PASSWORD}@h)")
    assert not holds_credentials("see https://docs.example/a?b=1, or mail me@example.org")


def test_hydras_own_messages_repeat_no_password() -> None:
    """Hydra's errors quote the override they could not read: a password in it was shown."""
    for override in (
        f"provider.api_base=http://u:hun,{PASSWORD}@127.0.0.1:9/v1",
        f"provider.api_base=[http://u:{PASSWORD}@127.0.0.1:9/v1]",
    ):
        with pytest.raises(ConfigError) as caught:
            to_settings(compose_config([override]))
        assert PASSWORD not in str(caught.value), override


def test_the_hydra_entry_refuses_credentials_before_hydra_writes_its_run_files(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """Hydra writes the overrides into `<root>/hydra/runs/.../.hydra/*.yaml` before the build
    can refuse them: the password was there although the build said it would never be."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "name=s", f"root={tmp_path / 'store'}",
         f"data.files=[{synthetic_corpus}]", "provider=openai_compatible", "track=false",
         f"provider.api_base=http://alice:{PASSWORD}@127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 1
    assert "provider.api_base carries credentials (http://***@127.0.0.1:9/v1)" in said
    assert PASSWORD not in done.stdout + done.stderr
    assert [
        p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()
    ] == []
    # A sweep's choices: Hydra writes multirun.yaml before any member could refuse.
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "-m", "name=s", f"root={tmp_path / 'store'}",
         f"data.files=[{synthetic_corpus}]", "provider=openai_compatible", "track=false",
         f"provider.api_base=http://127.0.0.1:9/v1,http://alice:{PASSWORD}@127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and "carries credentials" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert [
        p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()
    ] == []

"""Overrides of keys the config does not have fail, naming the closest key; bad values say why."""

from __future__ import annotations

import re

import pytest

from wmh.config.compose import compose_config, to_settings
from wmh.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("foo=1", "unknown config key 'foo' in override 'foo=1'"),
        ("+foo=1", "unknown config key 'foo' in override '+foo=1'"),  # Hydra would add it
        ("retrieval.topk=3", "did you mean 'retrieval.top_k'?"),
        ("gepa.budjet=3", "did you mean 'gepa.budget'?"),
        ("retrieval.top_k=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
        ("provider=nope", "Available options in 'provider': anthropic azure bedrock openai"),
        # No key: Hydra's traceback ("Config group override must be a string", an assert).
        ("=5", "override '=5' names no key: write KEY=VALUE"),
        ("=true", "override '=true' names no key"),
        ("+=", "override '+=' names no key"),
    ],
)
def test_a_bad_override_fails_with_the_reason(override: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compose_config(["name=x", override])
    assert said in str(caught.value)
    assert "search path" not in str(caught.value)


def test_every_schema_key_and_hydra_keys_still_compose() -> None:
    settings = to_settings(
        compose_config(
            ["name=x", "retrieval.top_k=3", "study.seeds=2", "embedder=litellm",
             "embedder.api_base=http://127.0.0.1:1/v1", "hydra.job.chdir=false"]
        )
    )  # fmt: skip
    assert settings.retrieval.top_k == 3 and settings.study.seeds == 2
    assert settings.embedder.kind == "litellm"


@pytest.mark.parametrize(
    "provider", ["replay", "openai", "anthropic", "bedrock", "azure", "openai_compatible"]
)
def test_each_provider_config_composes(provider: str) -> None:
    settings = to_settings(compose_config(["name=x", f"provider={provider}"]))
    assert settings.provider.name == provider
    if provider != "replay":
        assert settings.provider.model  # every LLM provider names a default model


@pytest.mark.parametrize(
    "override",
    [
        "provider.api_key=sk-hunter2-s3cret",  # a natural guess, with the key in it
        "provider.endpoint=http://alice:hunter2-s3cret@127.0.0.1:9/v1",
        "serve.redis=redis://127.0.0.1:6379/0?password=hunter2-s3cret",
    ],
)
def test_an_unknown_key_is_named_without_echoing_a_secret_value(override: str) -> None:
    key = override.split("=", 1)[0]
    with pytest.raises(ConfigError, match=f"unknown config key '{re.escape(key)}'") as caught:
        compose_config([override])
    assert "hunter2-s3cret" not in str(caught.value)
    assert f"'{key}=<redacted>'" in str(caught.value)

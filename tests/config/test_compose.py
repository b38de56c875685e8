from __future__ import annotations

import pytest

from wmh.config.compose import compose_config, quote_override, to_settings
from wmh.errors import ConfigError


def test_defaults_are_offline_replay_with_the_hashing_embedder() -> None:
    settings = to_settings(compose_config(["name=x"]))
    assert settings.provider.name == "replay"
    assert settings.embedder.kind == "hashing"
    assert (settings.split.train, settings.split.valid, settings.split.test) == (0.8, 0.1, 0.1)


def test_groups_and_keys_are_overridable() -> None:
    settings = to_settings(compose_config(["name=x", "embedder=minilm", "retrieval.top_k=3"]))
    assert settings.embedder.kind == "minilm"
    assert settings.retrieval.top_k == 3


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("foo=1", "foo"), ("retrieval.top_k=many", "top_k"), ("provider=nope", "provider")],
)
def test_unknown_or_mistyped_overrides_are_config_errors(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        to_settings(compose_config(["name=x", override]))


def test_a_missing_name_is_reported() -> None:
    with pytest.raises(ConfigError, match="name"):
        to_settings(compose_config([]))


@pytest.mark.parametrize(
    "value",
    ["a b,c/x.jsonl", "it's.jsonl", "C:\\dir\\f.jsonl", "end\\", "a\\'b", "[x]=y,z", ""],
)
def test_a_quoted_override_value_comes_back_unchanged(value: str) -> None:
    cfg = compose_config(["name=x", f"data.files=[{quote_override(value)}]"])
    assert cfg.data.files == [value]

"""The resolved config a model directory was built with (`config.yaml`): written by a build, read
back by the loader (LLM settings), evaluation, `wmh providers verify` and BentoML."""

from __future__ import annotations

from pathlib import Path

from wmh.config.compose import settings_from_file, to_yaml
from wmh.config.schema import EmbedderConfig, ProviderConfig, WmhConfig
from wmh.errors import ConfigError, StoreError
from wmh.store.layout import ModelFiles
from wmh.store.store import WorldModelStore


def write_settings(files: ModelFiles, settings: WmhConfig) -> None:
    files.config.write_text(to_yaml(settings), encoding="utf-8")


def model_settings(model_dir: Path) -> WmhConfig:
    """The resolved config a model directory was built with (its `config.yaml`)."""
    try:
        return settings_from_file(ModelFiles(model_dir).config)
    except ConfigError as exc:
        raise StoreError(f"cannot read the model's config: {exc}") from None


def model_providers(store: WorldModelStore) -> dict[str, ProviderConfig]:
    """Each built model's provider settings, by model name."""
    return {name: model_settings(store.path(name)).provider for name in store.names()}


def model_embedders(store: WorldModelStore) -> dict[str, EmbedderConfig]:
    """Each built model's embedder settings, by model name."""
    return {name: model_settings(store.path(name)).embedder for name in store.names()}

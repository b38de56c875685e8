"""The resolved config a model directory was built with (`config.yaml`): written by a build, read
back by the loader (LLM settings), evaluation, `wmh providers verify` and BentoML."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from wmh.config.compose import compose_config, settings_from_file, to_settings, to_yaml
from wmh.config.credentials import check_credentials
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


EVAL_GROUPS = ("judge", "provider", "predictor", "retrieval")
BUILT_WITH = ("retrieval.index", "retrieval.flat_max")  # the index was built with them


def eval_overrides(
    settings: WmhConfig,
    name: str,
    overrides: Sequence[str],
    judge: str | None = None,
    judged: bool = True,
) -> WmhConfig:
    """Eval-time choices for a built model (the judge, the provider's endpoint, the predictor's
    cache and budget), on top of what it was built with: `provider=x` chooses a group anew,
    `provider.api_base=y` changes one key of the model's own; what it was built from stays.
    `judged`: whether anything judges the answers (an eval does, `wmh play` does not)."""
    given = to_settings(compose_config([f"name={name}", *overrides]))
    replay = settings.provider.name == "replay"  # a replay model calls no provider
    groups: list[tuple[str, str]] = []
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        group, _, rest = key.partition(".")
        if group == "name":
            continue
        if group not in EVAL_GROUPS or key in BUILT_WITH or key == "retrieval":
            raise ConfigError(
                f"'{override}': {key} is fixed when model '{name}' is built; on a built model "
                f"an override can change {', '.join(EVAL_GROUPS)} (but not "
                f"{', '.join(BUILT_WITH)}, so not the whole retrieval group: rebuild to change "
                "the rest)"
            )
        groups.append((group, override))
        if group == "predictor" and replay:
            # Taken, it would change nothing and still be recorded with the results.
            raise ConfigError(
                f"'{override}': model '{name}' is a replay model, which calls no provider: "
                "predictor settings apply to a model built with an LLM provider "
                "(wmh build -o provider=...)"
            )
        if not rest:
            setattr(settings, group, getattr(given, group))
            continue
        target, source = getattr(settings, group), getattr(given, group)
        *path, leaf = rest.split(".")
        for part in path:
            target, source = getattr(target, part), getattr(source, part)
        setattr(target, leaf, getattr(source, leaf))
    provider_given = [override for group, override in groups if group == "provider"]
    if replay and provider_given and not judged:
        raise ConfigError(
            f"'{provider_given[0]}': model '{name}' is a replay model, which calls no provider: "
            "provider settings would change nothing here"
        )
    if replay and provider_given and "rubric" not in (settings.judge.name, judge):
        raise ConfigError(
            f"'{provider_given[0]}': model '{name}' is a replay model, which calls no provider; "
            "provider settings reach only an LLM judge here (judge=rubric)"
        )
    # The settings go with the results (their JSON, the eval's MLflow run), and `wmh play`
    # shows its endpoint: no secret may be in them.
    check_credentials(settings)
    return settings

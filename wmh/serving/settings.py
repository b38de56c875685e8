"""The serve config: `conf/serve` composed with `serve.*` overrides, and checked before anything
loads (a bad port, cap, TTL, limit or worker count, or several workers over in-memory
sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import OmegaConf

from wmh.config.compose import compose_config, override_key
from wmh.config.schema import ProviderConfig, RewardConfig, ServeConfig
from wmh.core.secrets import redact_urls, url_without_credentials
from wmh.errors import ConfigError
from wmh.store.settings import BUILT_WITH

# Redis keeps an expiry as milliseconds in 64 bits: past this (about 31,700 years), a TTL is more
# than the session store can be asked for.
MAX_REDIS_TTL_S = 1e12


# What an override may change of a served model (as `wmh play` changes it); and besides them,
# the server's own settings and its reward judge.
MODEL_GROUPS = ("provider", "predictor", "retrieval")
SERVER_GROUPS = ("serve", "reward", *MODEL_GROUPS)
# Neither a server's nor fixed by a build: how `wmh eval` and `wmh study` measure, and whether
# they track.
NOT_SERVED = ("judge", "study", "track", "experiment")


def override_group(override: str) -> str:
    return override_key(override).split(".", 1)[0]


@dataclass
class ServeSettings:
    """What a server runs with: `serve.*`, the reward judge that scores its sessions
    (`reward=`, calling `provider.*` when it is an LLM), and the overrides of `MODEL_GROUPS`,
    applied to each served model built with an LLM provider."""

    serve: ServeConfig
    reward: RewardConfig = field(default_factory=RewardConfig)
    provider: ProviderConfig = field(default_factory=ProviderConfig)
    overrides: list[str] = field(default_factory=list)


def server_settings(overrides: list[str]) -> ServeSettings:
    """`conf/` composed with the overrides: the serve group, reward and provider; an override
    of anything else, fixed when a model is built, is an error (it was taken and ignored)."""
    takes = "a server takes serve.*, reward, provider.*, predictor.* and retrieval.top_k"
    for override in overrides:
        key = override_key(override)
        group = override_group(override)
        if group in NOT_SERVED:
            raise ConfigError(f"'{override}': {key} is not a server's setting; {takes}")
        if group not in SERVER_GROUPS or key in BUILT_WITH:
            raise ConfigError(
                f"'{override}': {key} is fixed when a model is built; {takes} (rebuild to "
                "change the rest)"
            )
        if key == "retrieval":  # the whole group: its index settings too
            raise ConfigError(f"'{override}': {takes} (set retrieval.top_k alone)")
    cfg = compose_config(overrides)
    try:
        return ServeSettings(
            OmegaConf.to_object(cfg.serve),  # type: ignore[arg-type]
            OmegaConf.to_object(cfg.reward),  # type: ignore[arg-type]
            OmegaConf.to_object(cfg.provider),  # type: ignore[arg-type]
            [o for o in overrides if override_group(o) in MODEL_GROUPS],
        )
    except Exception as exc:  # noqa: BLE001 - OmegaConf raises several kinds; all are config errors
        raise ConfigError(str(exc).splitlines()[0]) from None


def serve_settings(overrides: list[str]) -> ServeConfig:
    """`conf/serve` composed with `serve.*` overrides."""
    return server_settings(overrides).serve


def check_serve_config(serve: ServeConfig) -> None:
    if not 1 <= serve.port <= 65535:
        raise ConfigError(f"serve.port must be between 1 and 65535, got {serve.port}")
    limits = ("max_body_bytes", "max_body_items", "max_session_steps", "max_session_bytes")
    for key in (*limits, "threads"):
        if getattr(serve, key) < 1:
            raise ConfigError(f"serve.{key} must be at least 1, got {getattr(serve, key)}")
    if serve.max_waiting < 0:
        raise ConfigError(f"serve.max_waiting must be 0 or more, got {serve.max_waiting}")
    if serve.max_sessions < 1:
        raise ConfigError(f"serve.max_sessions must be at least 1, got {serve.max_sessions}")
    if not serve.session_ttl_s > 0:  # NaN too: it expired every session as it was made
        raise ConfigError(f"serve.session_ttl_s must be > 0, got {serve.session_ttl_s}")
    if serve.session_store == "redis" and not serve.session_ttl_s <= MAX_REDIS_TTL_S:
        # inf crashed the store; a TTL past Redis's range made every new session a 503
        raise ConfigError(
            f"serve.session_ttl_s must be at most {MAX_REDIS_TTL_S:.0e} seconds with Redis "
            f"sessions, got {serve.session_ttl_s}"
        )
    if serve.session_store == "redis":
        _check_redis_url(serve.redis_url)
    if serve.workers < 1:
        raise ConfigError(f"serve.workers must be at least 1, got {serve.workers}")
    if serve.workers > 1 and serve.session_store != "redis":
        raise ConfigError(
            f"serve.workers={serve.workers} needs serve.session_store=redis: in-memory sessions "
            "live in one process, so other workers would not find them"
        )


def _check_redis_url(url: str) -> None:
    """A Redis URL redis-py can read (it raised its ValueError as a traceback at start); shown
    without its password."""
    from redis.connection import parse_url

    try:
        parse_url(url)
    except ValueError as exc:
        raise ConfigError(
            f"serve.redis_url {url_without_credentials(url)!r} is not a Redis URL: "
            f"{redact_urls(str(exc))} (e.g. redis://127.0.0.1:6379/0)"
        ) from None

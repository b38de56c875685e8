"""The serve config: `conf/serve` composed with `serve.*` overrides, and checked before anything
loads (a bad cap, TTL or worker count, or several workers over in-memory sessions)."""

from __future__ import annotations

from omegaconf import OmegaConf

from wmh.config.compose import compose_config
from wmh.config.schema import ServeConfig
from wmh.errors import ConfigError


def serve_settings(overrides: list[str]) -> ServeConfig:
    """`conf/serve` composed with `serve.*` overrides."""
    cfg = compose_config(overrides)
    try:
        return OmegaConf.to_object(cfg.serve)  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - OmegaConf raises several kinds; all are config errors
        raise ConfigError(str(exc).splitlines()[0]) from None


def check_serve_config(serve: ServeConfig) -> None:
    if serve.max_sessions < 1:
        raise ConfigError(f"serve.max_sessions must be at least 1, got {serve.max_sessions}")
    if serve.session_ttl_s <= 0:
        raise ConfigError(f"serve.session_ttl_s must be > 0, got {serve.session_ttl_s}")
    if serve.workers < 1:
        raise ConfigError(f"serve.workers must be at least 1, got {serve.workers}")
    if serve.workers > 1 and serve.session_store != "redis":
        raise ConfigError(
            f"serve.workers={serve.workers} needs serve.session_store=redis: in-memory sessions "
            "live in one process, so other workers would not find them"
        )

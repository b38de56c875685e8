"""Endpoint URLs never carry credentials: a config is saved with the model, logged to MLflow and
shown in errors, so a user:password@ or a key in one is refused, naming where it belongs."""

from __future__ import annotations

from wmh.config.schema import WmhConfig
from wmh.core.secrets import holds_credentials, redact_urls
from wmh.errors import ConfigError

# Where each endpoint's credentials belong instead of its URL.
_CREDENTIALS_INSTEAD = {
    "provider.api_base": "the key in the environment (OPENAI_API_KEY or the provider's own)",
    "embedder.api_base": "the key in the environment (OPENAI_API_KEY or the provider's own)",
    "reward.api_base": "the key in the environment (OPENAI_API_KEY)",
    "source.tracking_uri": "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an "
    "HTTP server, or leave source.tracking_uri empty and set MLFLOW_TRACKING_URI (a "
    "database URL, say)",
    "source.endpoint": "PHOENIX_API_KEY (or PHOENIX_CLIENT_HEADERS)",
    "serve.redis_url": "the URL with its password only where the server starts "
    "(wmh serve --redis-url, or WMH_REDIS_URL for a bento)",
}


def credentials_error(key: str, url: str | None) -> ConfigError | None:
    """The error for a setting whose URL carries credentials (shown without them); None when
    it carries none."""
    if not url or not holds_credentials(url):
        return None
    instead = _CREDENTIALS_INSTEAD.get(key, "the credentials in the environment")
    # The config is saved with the model and logged to MLflow: no secret may be in it.
    return ConfigError(
        f"{key} carries credentials ({redact_urls(url)}): set {instead} instead, "
        "so that it never reaches the model directory, MLflow or a log"
    )


def check_credentials(settings: WmhConfig) -> None:
    """ConfigError if an endpoint URL carries credentials (its text shown without them)."""
    for key, url in (
        ("provider.api_base", settings.provider.api_base),
        ("embedder.api_base", settings.embedder.api_base),
        ("reward.api_base", settings.reward.api_base),
        ("source.tracking_uri", settings.source.tracking_uri),
        ("source.endpoint", settings.source.endpoint),
        ("serve.redis_url", settings.serve.redis_url),
    ):
        error = credentials_error(key, url)
        if error is not None:
            raise error

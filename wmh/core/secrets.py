"""Credentials never reach a message: library errors can echo a request's key."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def redact_environment(message: str) -> str:
    """Remove any credential value from the environment that a library error might echo."""
    for key, value in os.environ.items():
        if value and len(value) >= 8 and any(word in key.upper() for word in SECRET_WORDS):
            message = message.replace(value, "<redacted>")
    return message


def url_without_credentials(url: str) -> str:
    """A URL with any user:password@ part shown as ***@ (Redis URLs, provider endpoints)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def has_credentials(url: str) -> bool:
    """Whether a URL carries a user:password@ (or user@) part before its host."""
    return url_without_credentials(url) != url

"""Credentials never reach a message: library errors can echo a request's key."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def redact_environment(message: str) -> str:
    """Remove any credential value from the environment that a library error might echo."""
    for key, value in os.environ.items():
        if value and len(value) >= 8 and any(word in key.upper() for word in SECRET_WORDS):
            message = message.replace(value, "<redacted>")
    return message


# A query parameter named for a credential (redis-py reads `?password=`; endpoints take
# `?api_key=`, `?token=`), up to its value: the value is what is hidden.
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[&;])[^=&;]*(?:password|passwd|token|secret|api_?key)[^=&;]*=)[^&;]*"
)


def url_without_credentials(url: str) -> str:
    """A URL with any user:password@ part shown as ***@, and the value of any query parameter
    named for a credential as *** (Redis URLs, provider endpoints)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    parts = parts._replace(query=_SECRET_PARAMETER.sub(r"\1***", parts.query))
    shown = urlunsplit(parts)
    return url if shown == urlunsplit(urlsplit(url)) else shown


def has_credentials(url: str) -> bool:
    """Whether a URL carries a user:password@ (or user@) part before its host, or a query
    parameter named for a credential."""
    return url_without_credentials(url) != url

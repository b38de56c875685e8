"""Credentials never reach a message: library errors can echo a request's key."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def redact_environment(message: str) -> str:
    """Remove any credential value from the environment that a library error might echo, and
    the credentials of any URL it quotes (an endpoint given with user:password@)."""
    for key, value in os.environ.items():
        if value and len(value) >= 8 and any(word in key.upper() for word in SECRET_WORDS):
            message = message.replace(value, "<redacted>")
    return redact_urls(message)


# Words that name a credential in a query parameter's name (`?password=`, redis-py's;
# `?api_key=`, `?api-key=`, `?key=`, `?access_token=`; a signed URL's `X-Amz-Signature=`,
# `?sig=`), each a whole word of the name: `max_tokens` or `ssl_keyfile` name none.
_SECRET_NAME_WORDS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "key", "apikey", "sig", "signature",
     "credential", "credentials", "auth"}
)  # fmt: skip
# A URL inside a longer text (a list, a sweep's choices, an error message), and a user:password@
# part anywhere in one (a password may hold a comma, which ends a URL in a list).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,\[\]()'\"<>]+")
_USERINFO = re.compile(r"://[^/\s@'\"\[\]]+@")


def names_a_secret(name: str) -> bool:
    """Whether a name (a query parameter's, a config key's) names a credential."""
    words = re.split(r"[^a-z0-9]+", unquote_plus(name).lower())
    return any(word in _SECRET_NAME_WORDS for word in words)


def _shown_query(query: str) -> str:
    """A query with the value of each parameter named for a credential as ***."""
    parts = re.split(r"([&;])", query)
    for i in range(0, len(parts), 2):
        name, sep, _ = parts[i].partition("=")
        if sep and names_a_secret(name):
            parts[i] = f"{name}=***"
    return "".join(parts)


def url_without_credentials(url: str) -> str:
    """A URL with any user:password@ part shown as ***@, and the value of any query parameter
    named for a credential as *** (Redis URLs, provider endpoints); a text no URL can be read
    from, as it is, but for a user:password@ part (`redis://:pw@[::1:6379` splits no further)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[bad": no URL, but it may hold a password all the same
        return _USERINFO.sub("://***@", url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    parts = parts._replace(query=_shown_query(parts.query))
    shown = urlunsplit(parts)
    return url if shown == urlunsplit(urlsplit(url)) else shown


def has_credentials(url: str) -> bool:
    """Whether a URL carries a user:password@ (or user@) part before its host, or a query
    parameter named for a credential."""
    return url_without_credentials(url) != url


def redact_urls(text: str) -> str:
    """A text (an error message, a list or sweep of URLs) with each URL in it shown without its
    credentials."""
    text = _USERINFO.sub("://***@", text)
    return _URL.sub(lambda found: url_without_credentials(found.group(0)), text)


def holds_credentials(text: str) -> bool:
    """Whether a text holds a URL with credentials anywhere in it."""
    return redact_urls(text) != text

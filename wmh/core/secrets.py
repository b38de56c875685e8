"""Credentials never reach a message: library errors can echo a request's key."""

from __future__ import annotations

import os

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def redact_environment(message: str) -> str:
    """Remove any credential value from the environment that a library error might echo."""
    for key, value in os.environ.items():
        if value and len(value) >= 8 and any(word in key.upper() for word in SECRET_WORDS):
            message = message.replace(value, "<redacted>")
    return message

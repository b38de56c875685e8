"""Providers: where a world model's predictions come from (offline replay or an LLM)."""

from wmh.providers.base import Provider, ReplayProvider

__all__ = ["Provider", "ReplayProvider"]

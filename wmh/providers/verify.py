"""Check that the providers of locally built models answer: one tiny completion each."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from wmh.config.schema import ProviderConfig
from wmh.errors import WmhError
from wmh.providers.llm import PING, LLMProvider


class ProviderCheck(BaseModel):
    models: list[str]
    provider: str
    model: str
    api_base: str = ""
    status: str  # pass | fail | skipped
    reason: str = ""
    latency_s: float = 0.0


def verify_providers(used: Mapping[str, ProviderConfig]) -> list[ProviderCheck]:
    """One check per distinct (provider, model, endpoint) among `used` (model name -> its
    provider settings, e.g. `wmh.store.settings.model_providers(store)`)."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    settings_by_key = {}
    for name, provider in used.items():
        key = (provider.name, provider.model, provider.api_base or "")
        grouped.setdefault(key, []).append(name)
        settings_by_key[key] = provider
    checks = []
    for key, models in sorted(grouped.items()):
        name, model, api_base = key
        base = ProviderCheck(
            models=models,
            provider=name,
            model=model,
            api_base=api_base,
            status="skipped",
            reason="offline: recorded observations",
        )
        if name == "replay":
            checks.append(base)
            continue
        try:
            completion = LLMProvider(settings_by_key[key]).complete(PING, max_tokens=5)
        except WmhError as exc:
            checks.append(base.model_copy(update={"status": "fail", "reason": str(exc)}))
            continue
        checks.append(
            base.model_copy(
                update={
                    "status": "pass",
                    "reason": f"answered {completion.text[:40]!r}",
                    "latency_s": round(completion.latency_s, 3),
                }
            )
        )
    return checks

"""Provider checks of a build: before it (does the provider answer?) and before publishing (did
the measurements measure the model, or the provider's failures?)."""

from __future__ import annotations

from dataclasses import replace

from wmh.config.schema import WmhConfig
from wmh.errors import ProviderError
from wmh.optimize.evolve import EvolveResult, skip_reason
from wmh.providers.llm import check_provider, provider_time_spent
from wmh.retrieval.provider_embedder import check_embedder
from wmh.scoring.runner import EvalReport

NOT_BUILT = "nothing was built and the previous model stays"
NOT_PUBLISHED = "the model was not published and the previous one stays"


def check_providers_answer(settings: WmhConfig, outcome: str = NOT_BUILT) -> None:
    """Before a build spends time on them: the provider (and GEPA's reflection model) and a
    provider embedder answer one tiny request, with no retries and a short timeout (`outcome`:
    what a refusal left, said with it)."""
    embedder = settings.embedder
    if embedder.kind == "litellm":
        try:
            check_embedder(embedder.model, embedder.api_base, embedder.dim)
        except ProviderError as exc:
            raise ProviderError(f"{exc}; {outcome}") from None
    if settings.provider.name == "replay":
        return
    configs = [settings.provider]
    if not skip_reason(settings) and settings.gepa.reflection_model:
        configs.append(replace(settings.provider, model=settings.gepa.reflection_model))
    for config in configs:
        try:
            check_provider(config)
        except ProviderError as exc:
            raise ProviderError(
                f"{exc}; {outcome} (check the endpoint, model and key, e.g. with "
                "wmh providers verify)"
            ) from None


def check_provider_errors(
    settings: WmhConfig,
    reports: list[EvalReport | None],
    outcome: str = NOT_PUBLISHED,
    measured: str = "valid and held-out",
) -> None:
    """Refuse to publish a model whose measurements mostly measured provider failures (GEPA's
    own calls: `check_gepa_errors`)."""
    allowed = settings.provider.max_error_share
    failed = sum(r.sources.get("provider_error", 0) for r in reports if r is not None)
    steps = sum(r.overall.steps for r in reports if r is not None)
    spent = provider_time_spent()
    why = f" ({spent})" if spent else ""
    if steps and failed / steps > allowed:
        raise ProviderError(
            f"{failed} of {steps} measured steps ({measured}) failed at the provider"
            f"{why}, more than "
            f"provider.max_error_share={allowed:g}: {outcome}"
        )


def check_gepa_errors(
    settings: WmhConfig, evolved: EvolveResult, outcome: str = NOT_PUBLISHED
) -> None:
    """Refuse a GEPA run whose scoring calls mostly failed at the provider (its scores measured
    failures), or whose reflection model answered none of its calls (it could propose nothing),
    before anything is published. (Reflection calls are few, about one an iteration: a share of
    them failing is said in the build's summary instead, `EvolveResult.notes`.)"""
    allowed = settings.provider.max_error_share
    spent = provider_time_spent()
    why = f" ({spent})" if spent else ""
    calls, failures = evolved.provider_calls, evolved.provider_failures
    if calls and failures / calls > allowed:
        raise ProviderError(
            f"{failures} of {calls} GEPA calls failed at the provider{why}, more than "
            f"provider.max_error_share={allowed:g}: {outcome}"
        )
    calls, failures = evolved.reflection_calls, evolved.reflection_failures
    if calls and failures == calls:
        raise ProviderError(
            f"all {calls} GEPA reflection calls (gepa.reflection_model: "
            f"{evolved.reflection_model}) failed at the provider{why}: GEPA proposed no prompt; "
            f"{outcome}"
        )

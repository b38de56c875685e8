"""Make the predictor a world model answers with, from its provider settings (the protocol
every predictor meets is `engine/predictor.py`)."""

from __future__ import annotations

from collections.abc import Sequence

from wmh.config.schema import WmhConfig
from wmh.engine.llm import LLMPredictor
from wmh.engine.llm_prompt import PromptBudget
from wmh.engine.predictor import Predictor
from wmh.engine.replay import ReplayPredictor
from wmh.providers.base import Provider, ReplayProvider
from wmh.providers.llm import LLMProvider
from wmh.retrieval.retriever import Retriever


def make_predictor(
    settings: WmhConfig,
    retriever: Retriever,
    replay: ReplayPredictor,
    instructions: str,
    replay_tools: Sequence[str] = (),
) -> tuple[Predictor, Provider]:
    """`replay` for provider=replay; otherwise the LLM predictor over that provider, leaving
    `replay_tools` to replay."""
    if settings.provider.name == "replay":
        return replay, ReplayProvider()
    provider = LLMProvider(settings.provider)
    predictor = LLMPredictor(
        provider,
        retriever,
        instructions,
        replay,
        top_k=settings.retrieval.top_k,
        cache=settings.predictor.cache,
        budget=PromptBudget(total=settings.predictor.max_prompt_tokens),
        replay_tools=frozenset(replay_tools),
    )
    return predictor, provider

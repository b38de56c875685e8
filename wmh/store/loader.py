"""Load a built model directory into a ready `WorldModel` and the provider that answers for it."""

from __future__ import annotations

from pathlib import Path

from wmh.config.schema import WmhConfig
from wmh.engine.factory import make_predictor
from wmh.engine.predictor import Predictor
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import SessionStore
from wmh.engine.world_model import WorldModel
from wmh.errors import ConfigError, StoreError
from wmh.providers.base import Provider, ReplayProvider
from wmh.store.card import FORMAT_VERSION, ModelCard, read_card
from wmh.store.index import load_retriever, read_signatures
from wmh.store.layout import ModelFiles
from wmh.store.prompts import model_prompt
from wmh.store.settings import model_settings


def check_top_k(card: ModelCard, top_k: int) -> None:
    """ConfigError for a retrieval.top_k the model cannot take (checked before serving)."""
    if top_k < 0:
        raise ConfigError(
            f"retrieval.top_k is how many recorded examples a step retrieves: 0 or more, got "
            f"{top_k}"
        )
    if card.provider == "replay" and top_k < 1:
        raise ConfigError(
            f"retrieval.top_k=0 (zero-shot, no retrieved examples) needs an LLM world model: "
            f"'{card.name}' is a replay model, which answers only from retrieved steps"
        )
    if card.provider == "replay" and top_k != card.top_k:
        # Taken, it would change nothing and still be recorded with the results.
        raise ConfigError(
            f"retrieval.top_k={top_k}: '{card.name}' is a replay model, whose answers do not "
            "depend on it (it weighs the neighbours its build chose for each tool); top_k is "
            "how many recorded examples an LLM world model's prompt shows"
        )


def load_world_model(
    model_dir: str | Path,
    sessions: SessionStore | None = None,
    hidden: frozenset[str] = frozenset(),
    settings: WmhConfig | None = None,
    prompt: str | None = None,
) -> tuple[WorldModel, Provider]:
    """Read `model.json`, the step table and index; return (world_model, provider).

    `hidden` traces stay out of every lookup (an evaluation of traces the index holds);
    `settings` replaces the ones the model was built with for its predictor (an eval against
    another endpoint or provider, another `retrieval.top_k`, without the replay cache); `prompt`
    replaces its environment prompt (an eval of another prompt)."""
    files = ModelFiles(model_dir)
    card = read_card(files.root)
    if card.format_version < FORMAT_VERSION:
        raise StoreError(
            f"{files.root} was built by an older wmh (model format {card.format_version}, this "
            f"version reads {FORMAT_VERSION}): rebuild it with `wmh build`"
        )
    retriever = load_retriever(files.index_dir, card.embedder, hidden)
    top_k = settings.retrieval.top_k if settings is not None else card.top_k
    check_top_k(card, top_k)
    if card.provider == "replay" and prompt is not None:
        raise ConfigError(
            f"'{card.name}' is a replay model, which uses no prompt: evaluate a prompt on a "
            "model built with an LLM provider"
        )
    replay = ReplayPredictor(
        retriever,
        card.error_style,
        max(1, top_k),
        card.repeat_reliability,
        card.state_writers,
        card.replay_policies,
        read_signatures(files.index_dir, retriever.table),
    )
    prompt = model_prompt(files) if prompt is None else prompt
    predictor: Predictor = replay
    provider: Provider = ReplayProvider()
    if card.provider != "replay":
        # LLM settings (model, endpoint, retries, budget) come from the config it was built with
        # unless given; credentials only ever from the environment.
        chosen = settings or model_settings(files.root)
        # The tools left to replay were measured with the built prompt, depth and model; an
        # eval of another of these, or with predictor.route=llm, measures the LLM on every tool.
        same = (
            prompt == model_prompt(files)
            and top_k == card.top_k
            and chosen.provider.model == card.provider_model
            and chosen.predictor.route == "per_tool"
        )
        left = card.replay_tools if same else ()
        predictor, provider = make_predictor(chosen, retriever, replay, prompt, left)
    wm = WorldModel(card.name, predictor, retriever, prompt, sessions)
    return wm, provider

"""Load a built model directory into a ready `WorldModel` and the provider that answers for it."""

from __future__ import annotations

from pathlib import Path

from wmh.engine.factory import make_predictor
from wmh.engine.predictor import Predictor
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import SessionStore
from wmh.engine.world_model import WorldModel
from wmh.providers.base import Provider, ReplayProvider
from wmh.store.card import read_card
from wmh.store.index import load_retriever
from wmh.store.layout import ModelFiles
from wmh.store.prompts import model_prompt
from wmh.store.settings import model_settings


def load_world_model(
    model_dir: str | Path, sessions: SessionStore | None = None
) -> tuple[WorldModel, Provider]:
    """Read `model.json`, the step table and index; return (world_model, provider)."""
    files = ModelFiles(model_dir)
    card = read_card(files.root)
    retriever = load_retriever(files, card.embedder)
    replay = ReplayPredictor(
        retriever, card.error_style, card.top_k, card.repeat_reliability, card.state_writers
    )
    prompt = model_prompt(files)
    predictor: Predictor = replay
    provider: Provider = ReplayProvider()
    if card.provider != "replay":
        # LLM settings (model, endpoint, retries, budget) come from the config it was built with;
        # credentials only ever from the environment.
        predictor, provider = make_predictor(model_settings(files.root), retriever, replay, prompt)
    wm = WorldModel(card.name, predictor, retriever, prompt, sessions)
    return wm, provider

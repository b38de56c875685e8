"""Load a built model directory into a ready `WorldModel` and the provider that answers for it."""

from __future__ import annotations

from pathlib import Path

from wmh.config.compose import model_settings
from wmh.config.store import read_card
from wmh.engine.predictor import Predictor
from wmh.engine.predictors import make_predictor
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import SessionStore
from wmh.engine.world_model import WorldModel
from wmh.providers.base import Provider, ReplayProvider
from wmh.retrieval.embedders import embedder_from_card
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable


def _prompt(model_dir: Path) -> str:
    for name in ("optimized.txt", "base.txt"):
        path = model_dir / "prompts" / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def load_world_model(
    model_dir: str | Path, sessions: SessionStore | None = None
) -> tuple[WorldModel, Provider]:
    """Read `model.json`, the step table and index; return (world_model, provider)."""
    model_dir = Path(model_dir)
    card = read_card(model_dir)
    table = StepTable.load(
        model_dir / "steps" / "train.jsonl", model_dir / "index" / "columns.json"
    )
    index = PartitionedIndex.load(model_dir / "index")
    retriever = IndexRetriever(table, index, embedder_from_card(card.embedder))
    replay = ReplayPredictor(
        retriever, card.error_style, card.top_k, card.repeat_reliability, card.state_writers
    )
    prompt = _prompt(model_dir)
    predictor: Predictor = replay
    provider: Provider = ReplayProvider()
    if card.provider != "replay":
        # LLM settings (model, endpoint, retries, budget) come from the config it was built with;
        # credentials only ever from the environment.
        predictor, provider = make_predictor(model_settings(model_dir), retriever, replay, prompt)
    wm = WorldModel(card.name, predictor, retriever, prompt, sessions)
    return wm, provider

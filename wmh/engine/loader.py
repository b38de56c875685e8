"""Load a built model directory into a ready `WorldModel` and the provider that answers for it."""

from __future__ import annotations

from pathlib import Path

from wmh.config.store import read_card
from wmh.engine.replay import ReplayPredictor
from wmh.engine.sessions import SessionStore
from wmh.engine.world_model import WorldModel
from wmh.errors import StoreError
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
    if card.provider != "replay":
        raise StoreError(
            f"{model_dir}: provider '{card.provider}' is not supported by this version"
        )
    predictor = ReplayPredictor(
        retriever, card.error_style, card.top_k, card.repeat_reliability, card.state_writers
    )
    provider = ReplayProvider()
    wm = WorldModel(card.name, predictor, retriever, _prompt(model_dir), sessions)
    return wm, provider

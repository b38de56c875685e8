"""The model card (`model.json`): what a model directory holds and how it was built.

`wmh list`, the loader and BentoML packaging read it; it never holds secrets.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from wmh.core.types import first_problem
from wmh.engine.learnt import ErrorStyle
from wmh.engine.policy import FitReport, ReplayPolicies
from wmh.errors import StoreError
from wmh.ingest.report import IngestReport
from wmh.retrieval.embedder_card import EmbedderCard
from wmh.store.layout import CARD_FILE, ModelFiles, build_again

FORMAT_VERSION = 2  # 2: char-n-gram index over every trace, context columns, replay policies


class ModelCard(BaseModel):
    format_version: int = FORMAT_VERSION
    name: str
    created_at: str
    wmh_version: str
    provider: str
    provider_model: str = ""
    predictor: str
    # Tools an LLM model leaves to replay, which scored higher on them on valid steps.
    replay_tools: list[str] = Field(default_factory=list)
    embedder: EmbedderCard
    top_k: int
    split: dict[str, dict[str, int]] = Field(default_factory=dict)
    ingest: IngestReport = Field(default_factory=IngestReport)
    error_style: ErrorStyle = Field(default_factory=ErrorStyle)
    repeat_reliability: dict[str, float] = Field(default_factory=dict)
    state_writers: list[str] = Field(default_factory=list)
    replay_policies: ReplayPolicies = Field(default_factory=ReplayPolicies)
    replay_fit: FitReport = Field(default_factory=FitReport)
    heldout_score: float | None = None
    heldout_judge: str = ""
    heldout_steps: int = 0
    heldout_sampled_from: int = 0  # held-out steps there were, when a sample of them was scored
    rollouts: int = 0
    frontier_size: int = 0
    mlflow_run_id: str = ""
    experiment: str = ""  # the MLflow experiment (a sweep's members share one)

    @property
    def steps(self) -> int:
        return sum(part.get("steps", 0) for part in self.split.values())


def read_card(model_dir: Path) -> ModelCard:
    path = ModelFiles(model_dir).card
    try:
        return ModelCard.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(f"{model_dir} is not a world model directory (no {CARD_FILE})") from None
    except OSError as exc:
        raise StoreError(
            f"{path}: unreadable model card (cannot read it: {exc.strerror or exc})"
        ) from None
    except ValidationError as exc:
        raise StoreError(
            f"{path}: unreadable model card ({first_problem(exc)}); "
            f"build it again ({build_again(model_dir.name)})"
        ) from None


def write_card(files: ModelFiles, card: ModelCard) -> None:
    """Written last by a build: a directory with a card is a complete model."""
    files.card.write_text(card.model_dump_json(indent=2), encoding="utf-8")

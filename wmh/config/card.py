"""The model card (`model.json`): what a model directory holds and how it was built.

`wmh list`, the loader and BentoML packaging read it; it never holds secrets.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from wmh.engine.learnt import ErrorStyle
from wmh.ingest.reader import IngestReport
from wmh.retrieval.embedders import EmbedderCard

CARD_FILE = "model.json"
FORMAT_VERSION = 1


class ModelCard(BaseModel):
    format_version: int = FORMAT_VERSION
    name: str
    created_at: str
    wmh_version: str
    provider: str
    provider_model: str = ""
    predictor: str
    embedder: EmbedderCard
    top_k: int
    split: dict[str, dict[str, int]] = Field(default_factory=dict)
    ingest: IngestReport = Field(default_factory=IngestReport)
    error_style: ErrorStyle = Field(default_factory=ErrorStyle)
    repeat_reliability: dict[str, float] = Field(default_factory=dict)
    state_writers: list[str] = Field(default_factory=list)
    heldout_score: float | None = None
    heldout_judge: str = ""
    heldout_steps: int = 0
    rollouts: int = 0
    frontier_size: int = 0
    mlflow_run_id: str = ""

    @property
    def steps(self) -> int:
        return sum(part.get("steps", 0) for part in self.split.values())

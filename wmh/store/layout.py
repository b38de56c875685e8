"""The names of the files in a model directory, in one place (as the leading harness's
`ArtifactPaths`): every reader and writer of `<root>/models/<name>/` asks this class for a path.

    config.yaml    the resolved Hydra config the model was built with
    model.json     the card (what was built, how, with which figures)
    metrics.json   held-out fidelity, GEPA progress, split, ingest, timings
    steps/         <part>.jsonl of Step lines per split part, sources.json (trace -> file)
    index/         steps.jsonl (the indexed steps, every part), columns.json (per row: trace,
                   route, observation length; exact-replay keys), the FAISS
                   partitions, the context columns (task_of, tasks, history .npy), embedder.json,
                   signatures.npz (the answer signatures of the tools whose replay policy takes
                   a consensus; none when no tool's does)
    prompts/       base.txt, optimized.txt and frontier.json when GEPA ran
"""

from __future__ import annotations

import re
from pathlib import Path

CARD_FILE = "model.json"
# A model's name is its folder's: one path segment (`check_model_name` says so to a user).
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_model_name(name: str) -> bool:
    return bool(MODEL_NAME.match(name)) and ".." not in name


def build_again(name: str) -> str:
    """How to build a model of this folder name anew; a folder name `wmh build` would refuse
    (spaces, say) is not suggested."""
    if is_model_name(name):
        return f"wmh build --name {name} --file TRACES"
    return "wmh build --name NAME --file TRACES, under a name of letters, digits, '.', '_', '-'"


# Inside an index directory (a model's `index/`, or the DVC index stage's output).
INDEX_STEPS = "steps.jsonl"
COLUMNS = "columns.json"
EMBEDDER = "embedder.json"
SIGNATURES = "signatures.npz"


class ModelFiles:
    """Where each part of one model directory lives."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def card(self) -> Path:
        return self.root / CARD_FILE

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def steps_dir(self) -> Path:
        return self.root / "steps"

    def steps(self, part: str) -> Path:
        """The Step lines of one split part (`train`, `valid`, `test`)."""
        return self.steps_dir / f"{part}.jsonl"

    @property
    def sources(self) -> Path:
        """trace id -> the file (or store label) it was read from."""
        return self.steps_dir / "sources.json"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def index_steps(self) -> Path:
        """The indexed steps (every split part), one row per line in index order."""
        return self.index_dir / INDEX_STEPS

    @property
    def columns(self) -> Path:
        return self.index_dir / COLUMNS

    @property
    def embedder(self) -> Path:
        return self.index_dir / EMBEDDER

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def base_prompt(self) -> Path:
        return self.prompts_dir / "base.txt"

    @property
    def optimized_prompt(self) -> Path:
        return self.prompts_dir / "optimized.txt"

    @property
    def frontier(self) -> Path:
        return self.prompts_dir / "frontier.json"

    def tracked(self) -> list[Path]:
        """The files an MLflow build run keeps as artifacts (those that exist)."""
        candidates = [self.config, self.metrics, *sorted(self.prompts_dir.glob("*"))]
        return [path for path in candidates if path.is_file()]

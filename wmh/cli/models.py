"""`wmh list`: the built world models with their provider, size, held-out score, what the replay
model's chosen parts scored against the plain copy while building, and date."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from wmh.cli.common import RootOption, console
from wmh.store.store import WorldModelStore


def list_models(root: Path = RootOption) -> None:
    """List built world models."""
    store = WorldModelStore(root)
    cards = store.cards()
    if not cards:
        console.print(
            f"no world models in {store.models_dir}; build one with "
            "wmh build --name NAME --file TRACES"
        )
        return
    table = Table(
        "name", "provider", "steps", "held-out", "replay fit/copy", "rollouts", "frontier",
        "built", "MLflow run",
    )  # fmt: skip
    for card in cards:
        score = f"{card.heldout_score:.3f}" if card.heldout_score is not None else "-"
        fit = card.replay_fit
        fitted = (
            f"{fit.score:.3f}/{fit.nearest_copy:.3f}"
            if fit.score is not None and fit.nearest_copy is not None
            else "-"
        )
        table.add_row(
            card.name,
            card.provider,
            str(card.steps),
            score,
            fitted,
            str(card.rollouts or "-"),
            str(card.frontier_size or "-"),
            card.created_at,
            card.mlflow_run_id[:12] or "-",
        )
    console.print(table)

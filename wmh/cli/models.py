"""`wmh list`: the built world models with their provider, size, held-out score and date."""

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
        "name", "provider", "steps", "held-out", "rollouts", "frontier", "built", "MLflow run"
    )
    for card in cards:
        score = f"{card.heldout_score:.3f}" if card.heldout_score is not None else "-"
        table.add_row(
            card.name,
            card.provider,
            str(card.steps),
            score,
            str(card.rollouts or "-"),
            str(card.frontier_size or "-"),
            card.created_at,
            card.mlflow_run_id[:12] or "-",
        )
    console.print(table)

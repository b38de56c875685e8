"""`wmh list`: the built world models with their provider, size, held-out score, what the replay
model's chosen parts scored against the plain copy while building, GEPA's rollouts and frontier,
the date, the MLflow run, and, for models of one experiment (a sweep's members), the settings in
which they differ."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.markup import escape

from wmh.cli.common import RootOption, console, narrow_table
from wmh.errors import StoreError
from wmh.store.card import ModelCard
from wmh.store.layout import ModelFiles
from wmh.store.store import WorldModelStore

# Keys every member of an experiment has its own value of, whatever was varied.
_NOT_VARIED = {"name", "experiment", "root"}


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, inner in value.items():
            flat.update(_flat(inner, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: str(value)}


def varied_settings(store: WorldModelStore, cards: list[ModelCard]) -> dict[str, str]:
    """Per model: `key=value ...` of the settings that differ among the models of its
    experiment (empty for a model alone in its experiment)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    groups: dict[str, list[ModelCard]] = defaultdict(list)
    for card in cards:
        if card.experiment:
            groups[card.experiment].append(card)
    varied: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        settings = {}
        for card in members:
            path = ModelFiles(store.models_dir / card.name).config
            try:
                settings[card.name] = _flat(yaml.load(path.read_text(encoding="utf-8"), loader))
            except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8
                settings[card.name] = {}
        keys = sorted({k for flat in settings.values() for k in flat} - _NOT_VARIED)
        differ = [k for k in keys if len({flat.get(k) for flat in settings.values()}) > 1]
        for name, flat in settings.items():
            varied[name] = " ".join(f"{k}={flat.get(k, '-')}" for k in differ)
    return varied


def list_models(root: Path = RootOption) -> None:
    """List built world models."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"--root {root} is a file: it names the folder that holds models/")
    store = WorldModelStore(root)
    cards, unreadable = store.read_cards()
    for why in unreadable:
        console.print(f"skipped: {escape(why)}", style="yellow")
    if not cards:
        console.print(
            f"no world models in {store.models_dir}; build one with "
            "wmh build --name NAME --file TRACES"
        )
        return
    varied = varied_settings(store, cards)
    # Headers are never cut: on a narrow terminal the cells wrap instead.
    headers = ["name", "provider", "steps", "held-out", "fit/copy", "GEPA", "built", "run"]
    if any(varied.values()):
        headers.append("varied")
    rows = []
    for card in cards:
        score = f"{card.heldout_score:.3f}" if card.heldout_score is not None else "-"
        fit = card.replay_fit
        fitted = (
            f"{fit.score:.3f}/{fit.nearest_copy:.3f}"
            if fit.score is not None and fit.nearest_copy is not None
            else "-"
        )
        gepa = f"{card.rollouts}r/{card.frontier_size}f" if card.rollouts else "-"
        row = [
            card.name,
            card.provider,
            str(card.steps),
            score,
            fitted,
            gepa,
            card.created_at[:16].replace("T", " "),
            card.mlflow_run_id[:8] or "-",
        ]
        if len(headers) > len(row):
            row.append(varied.get(card.name, ""))
        rows.append(row)
    table = narrow_table(headers, rows)
    console.print(table)
    console.print(
        "[dim]fit/copy: the replay parts chosen vs the nearest copy, on the build's own steps; "
        "GEPA: rollouts/frontier size[/]"
    )

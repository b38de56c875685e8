"""`wmh package`: a built world model as a BentoML bento.

The model directory goes into BentoML's model store (`wmh-<name>`, labelled with the card's
figures); `bentoml build` then packages the service of `bentofile.yaml` with that model.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from wmh.errors import ConfigError, StoreError
from wmh.store.card import read_card
from wmh.store.store import WorldModelStore

log = logging.getLogger(__name__)


def bento_model_name(name: str) -> str:
    """BentoML tags are lower case; world model names may not be."""
    return f"wmh-{name.lower()}"


@dataclass
class Packaged:
    model_tag: str
    bento_tag: str
    bento_path: str


def package_model(name: str, root: str | Path, bentofile: str | Path) -> Packaged:
    """Import `<root>/models/<name>/` into BentoML and build its bento from `bentofile`."""
    import bentoml

    bentofile = Path(bentofile)
    if not bentofile.is_file():
        raise ConfigError(
            f"{bentofile}: no such bentofile (run from the project root, or pass --bentofile)"
        )
    model_dir = WorldModelStore(root).resolve(name)
    card = read_card(model_dir)
    labels = {"wmh.model": name, "wmh.provider": card.provider, "wmh.predictor": card.predictor}
    metadata = {
        "heldout_score": card.heldout_score,
        "steps": card.steps,
        "wmh_version": card.wmh_version,
        "created_at": card.created_at,
    }
    try:
        with bentoml.models.create(
            bento_model_name(name), labels=labels, metadata=metadata
        ) as model:
            shutil.copytree(model_dir, model.path, dirs_exist_ok=True)
        bento = bentoml.bentos.build_bentofile(
            str(bentofile),
            build_ctx=str(bentofile.resolve().parent),
            name=bento_model_name(name),
            labels=labels,
            args={"model": name},
        )
    except bentoml.exceptions.BentoMLException as exc:
        raise StoreError(f"bentoml could not package {name}: {exc}") from None
    log.info("bento %s with model %s", bento.tag, model.tag)
    return Packaged(str(model.tag), str(bento.tag), str(bento.path))

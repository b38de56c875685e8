"""`wmh package`: a built world model as a BentoML bento.

The model directory goes into BentoML's model store (`wmh-<name>`, labelled with the card's
figures); `bentoml build` then packages the service of `bentofile.yaml` with that model. Both carry
a digest of what went into them (the model's files; for the bento also the bentofile, the lock file
and the sources it includes): packaging again with nothing changed reuses them, so BentoML's
stores only get a new version when there is something new in it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmh.errors import ConfigError, StoreError
from wmh.store.card import read_card
from wmh.store.loader import load_world_model
from wmh.store.store import WorldModelStore

log = logging.getLogger(__name__)


def bento_model_name(name: str) -> str:
    """BentoML tags are lower case; world model names may not be."""
    return f"wmh-{name.lower()}"


DIGEST_LABEL = "wmh.digest"


@dataclass
class Packaged:
    model_tag: str
    bento_tag: str
    bento_path: str
    reused: bool = False  # nothing had changed: the existing model and bento were kept


def tree_digest(files: Iterable[Path], base: Path, seed: str = "") -> str:
    """A digest of files' paths (relative to `base`) and bytes, in path order."""
    digest = hashlib.sha256(seed.encode())
    for path in sorted(set(files)):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def _bento_inputs(bentofile: Path) -> list[Path]:
    """The bentofile, the lock file it names and the sources its `include` globs match."""
    import yaml

    base = bentofile.resolve().parent
    try:
        spec = yaml.safe_load(bentofile.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: not UTF-8
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{bentofile}: not a readable bentofile ({first})") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{bentofile}: a bentofile is a YAML mapping, got {type(spec).__name__}")
    files = [bentofile.resolve()]
    requirements = (spec.get("python") or {}).get("requirements_txt")
    if requirements:
        if not (base / requirements).is_file():  # BentoML failed on it after importing the model
            raise ConfigError(
                f"{bentofile}: its requirements_txt {requirements} is not in {base} (run wmh "
                "package from the project root, or pass its --bentofile)"
            )
        files.append((base / requirements).resolve())
    include = spec.get("include") or []
    if include:
        matched = _included(base, include, spec.get("exclude") or [])
        if not matched:  # a bento without them builds, and cannot run
            raise ConfigError(
                f"{bentofile}: no file under {base} matches its include "
                f"({', '.join(map(str, include))}); run wmh package from the project root, or "
                "pass its --bentofile"
            )
        files.extend(matched)
    return [f for f in files if f.is_relative_to(base)]


# Folders BentoML never takes into a bento, whatever the patterns say.
_NEVER_INCLUDED = frozenset({".git", ".venv", "venv", "__pycache__"})


def _included(base: Path, include: list[Any], exclude: list[Any]) -> list[Path]:
    """The files under `base` a bento takes: matched as BentoML matches `include` and
    `exclude`, gitignore-style (`src/`, `*.py` at any depth, `!negations`)."""
    import pathspec

    taken = pathspec.PathSpec.from_lines("gitwildmatch", map(str, include))
    left = pathspec.PathSpec.from_lines("gitwildmatch", map(str, exclude))
    found = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in _NEVER_INCLUDED)
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(base).as_posix()
            if taken.match_file(relative) and not left.match_file(relative):
                found.append(path.resolve())
    return found


def _latest_if(get: Callable[[str], Any], tag: str, digest: str) -> Any:
    """The latest model or bento of `tag` when it carries `digest` (`wmh-x:latest` is what
    the bento pins and what users serve, so an older match is not reused)."""
    import bentoml

    try:
        latest = get(f"{tag}:latest")
    except bentoml.exceptions.NotFound:
        return None
    return latest if latest.info.labels.get(DIGEST_LABEL) == digest else None


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
    model_digest = tree_digest(
        (p for p in model_dir.rglob("*") if p.is_file()), model_dir, seed=name
    )
    bento_digest = tree_digest(
        _bento_inputs(bentofile), bentofile.resolve().parent, seed=model_digest
    )
    name_tag = bento_model_name(name)
    try:
        model = _latest_if(bentoml.models.get, name_tag, model_digest)
        bento = _latest_if(bentoml.bentos.get, name_tag, bento_digest) if model else None
        if model is not None and bento is not None:
            log.info("bento %s with model %s: unchanged, reused", bento.tag, model.tag)
            return Packaged(str(model.tag), str(bento.tag), str(bento.path), reused=True)
        if model is None:
            # What the bento's service does first: a model it cannot load (a damaged index) is
            # refused here, not built into a bento that fails at `bentoml serve`. (One already
            # imported with these files loaded when it was.)
            load_world_model(model_dir)
            with bentoml.models.create(
                name_tag, labels={**labels, DIGEST_LABEL: model_digest}, metadata=metadata
            ) as model:
                shutil.copytree(model_dir, model.path, dirs_exist_ok=True)
        bento = bentoml.bentos.build_bentofile(
            str(bentofile),
            build_ctx=str(bentofile.resolve().parent),
            name=name_tag,
            labels={**labels, DIGEST_LABEL: bento_digest},
            args={"model": name},
        )
    except (bentoml.exceptions.BentoMLException, OSError) as exc:
        raise StoreError(f"bentoml could not package {name}: {exc}") from None
    log.info("bento %s with model %s", bento.tag, model.tag)
    return Packaged(str(model.tag), str(bento.tag), str(bento.path))

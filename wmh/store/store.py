"""The model store: `<root>/models/<name>/`, written atomically and listed by name.

A build writes into a hidden staging directory and renames it into place at the end, so a failed
or killed build never leaves a partial model, and the previous model of that name stays loadable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wmh.core.locks import file_lock
from wmh.core.text import counted
from wmh.errors import ConfigError, ModelNotFoundError, StoreError
from wmh.store.card import ModelCard, read_card
from wmh.store.layout import CARD_FILE, ModelFiles, is_model_name

_STAGING = ".staging-"
_RETIRED = ".retired-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_named(folder: Path, card: ModelCard) -> None:
    """A stored model's folder is its name: one copied or renamed to another folder would be
    listed, served and scored under the name it was built with, not the one it is asked by.
    (A link to a model's folder, an alias, is that model.)"""
    if card.name not in (folder.name, folder.resolve().name):
        raise StoreError(
            f"{folder} holds the model built as '{card.name}' (its {CARD_FILE} says so): a "
            f"model's folder is its name; rename the folder back to '{card.name}'"
            + (
                f", or build it anew as '{folder.name}' (wmh build --name {folder.name} ...)"
                if is_model_name(folder.name)
                else ""
            )
        )


def check_model_name(name: str, what: str = "model") -> str:
    """A model name (or a study's, `what`) is one path segment: letters, digits, '.', '_', '-'
    (no '/', no '..')."""
    if not isinstance(name, str) or not is_model_name(name):
        raise ConfigError(
            f"invalid {what} name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no '/', no '..', at most 128 characters, starting with a letter or digit)"
        )
    return name


class WorldModelStore:
    """Named world models under `<root>/models/`."""

    def __init__(self, root: str | Path = ".wmh") -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"

    def check_writable(self) -> None:
        """Make `models/` and check a model could be published there, before a build works
        for minutes only to find it cannot: StoreError if the root is a file or not writable."""
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(
                f"the store root {self.root} cannot hold models/: it, or a folder above it, is "
                "a file (--root / root= names a folder)"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot create {self.models_dir}: {exc.strerror or exc}") from None
        if not os.access(self.models_dir, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write under {self.models_dir} (permission denied)")

    def path(self, name: str) -> Path:
        return self.models_dir / check_model_name(name)

    def resolve(self, name: str) -> Path:
        """The directory of a built model, or ModelNotFoundError naming those that exist."""
        target = self.path(name)
        card = ModelFiles(target).card
        found = card.is_file()
        if not found and self._lock_file(name).exists():
            # The name was published here: a publisher may be between its two renames (wait
            # for it), or one was killed there (put the old model back). A store this process
            # cannot write is only read.
            with contextlib.suppress(OSError), self._name_lock(name):
                self._recover(name)
                found = card.is_file()
            found = found or card.is_file()
        if not found:
            cards, unreadable = self.read_cards()
            known = ", ".join(c.name for c in cards) or "none"
            damaged = (
                f"; {counted(len(unreadable), 'folder')} not a readable model: wmh list says why"
                if unreadable
                else ""
            )
            raise ModelNotFoundError(
                f"no world model named '{name}' in {self.models_dir} (built: {known}{damaged}); "
                f"build it with: wmh build --name {name} --file TRACES"
            )
        try:
            built = read_card(target)
        except StoreError:
            return target  # a damaged card is named as such by whatever reads the model
        _check_named(target, built)
        return target

    def names(self) -> list[str]:
        if not self.models_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.models_dir.iterdir()
            if not p.name.startswith(".") and ModelFiles(p).card.is_file()
        )

    def cards(self) -> list[ModelCard]:
        """Cards of every model that can be read (`read_cards` also says why the others
        cannot)."""
        return self.read_cards()[0]

    def read_cards(self) -> tuple[list[ModelCard], list[str]]:
        """Cards of every model that can be read, and why each other one cannot (one damaged
        model does not hide the rest)."""
        cards, unreadable = [], []
        for name in self.names():
            try:
                card = read_card(self.models_dir / name)
                _check_named(self.models_dir / name, card)
                cards.append(card)
            except StoreError as exc:
                unreadable.append(str(exc))
        if self.models_dir.is_dir():  # a folder that is no model is named, not left out unsaid
            unreadable += [
                f"{folder}: not a world model (no {CARD_FILE}: an unfinished copy?)"
                for folder in sorted(self.models_dir.iterdir())
                if folder.is_dir()
                and not folder.name.startswith(".")
                and not ModelFiles(folder).card.is_file()
            ]
        return cards, unreadable

    def _recover(self, name: str) -> None:
        """Put back a model retired by a build that was killed between its two renames."""
        target = self.models_dir / name
        if target.exists() or not self.models_dir.is_dir():
            return
        retired = sorted(self.models_dir.glob(f"{_RETIRED}{name}.*"))
        if retired:
            os.replace(retired[-1], target)

    def _clean_orphans(self) -> None:
        """Staging folders of builds whose process is gone, and retired models whose
        replacement is in place (both left by a killed build), are removed."""
        for folder in self.models_dir.glob(f"{_STAGING}*.*.*"):
            pid = folder.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
        for retired in self.models_dir.glob(f"{_RETIRED}*"):
            name = retired.name[len(_RETIRED) :].rsplit(".", 1)[0]
            if (self.models_dir / name).exists():
                shutil.rmtree(retired, ignore_errors=True)

    def _lock_file(self, name: str) -> Path:
        return self.root / ".locks" / f"{name}.lock"

    @contextmanager
    def _name_lock(self, name: str) -> Iterator[None]:
        """One publisher of a name at a time, across processes (a lock file per name)."""
        with file_lock(self._lock_file(name)):
            yield

    @contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A fresh directory to build into; published as `name` only if the block succeeds."""
        check_model_name(name)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._clean_orphans()
        # A hidden folder of its own in models/ (a rename there publishes): no shared staging
        # folder, whose removal when empty raced with another build creating its own in it.
        tmp = self.models_dir / f"{_STAGING}{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        failed = f"cannot write world model '{name}' under {self.models_dir}"
        try:
            yield tmp
            failed = f"cannot publish world model '{name}' in {self.models_dir}"
            self.publish(tmp, name)
        except BaseException as exc:  # failed, or refused: the build's folder goes
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise StoreError(f"{failed}: {exc.strerror or exc}") from None
            raise

    def publish(self, built: Path, name: str) -> Path:
        """Move a complete build into place, replacing (then deleting) the previous one."""
        if not ModelFiles(built).card.is_file():
            raise StoreError(
                f"world model '{name}' was not published: its build wrote no {CARD_FILE} "
                "(a partial model)"
            )
        target = self.models_dir / name
        with self._name_lock(name):
            self._recover(name)
            retired = None
            if target.exists():
                retired = self.models_dir / f"{_RETIRED}{name}.{uuid.uuid4().hex[:8]}"
                os.replace(target, retired)
            os.replace(built, target)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        return target

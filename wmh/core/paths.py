"""Output paths checked before the work whose results they will hold: a run of minutes should
not end in a traceback because `--out` names a folder, sits under a file, or points where
nothing may be written."""

from __future__ import annotations

import tempfile
from pathlib import Path

from wmh.errors import ConfigError


def check_output(
    path: Path, what: str = "the results file", flag: str = "--out", folder: bool = False
) -> None:
    """ConfigError unless `path` can be written as a file (or, with `folder`, as a folder to
    write `what` in): not a folder where a file is named (or a file where a folder is), no file
    among its parents, and a place where a file can be created (probed in the nearest folder
    that exists, which is left as it was)."""
    if folder and path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file: give a folder for {what}")
    if not folder and path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory: give {what}'s path")
    nearest = path if folder else path.parent
    while not nearest.exists():
        if nearest.parent == nearest:
            break
        nearest = nearest.parent
    if nearest.exists() and not nearest.is_dir():
        raise ConfigError(f"{flag} {path}: {nearest} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=nearest, prefix=".wmh-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write in {nearest} ({exc.strerror})") from None

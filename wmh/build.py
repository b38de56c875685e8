"""`python -m wmh.build name=... data.files=[...]`: the Hydra entry point for builds and sweeps.

A thin shell over `wmh.pipeline.build_world_model`; `-m` runs a sweep, one build per member.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from wmh.config.compose import CONF_DIR, check_override_keys, register_schema, to_settings
from wmh.config.credentials import credentials_error
from wmh.core.text import counted
from wmh.errors import ConfigError, WmhError
from wmh.offline import apply_offline_defaults
from wmh.pipeline.build import build_world_model

log = logging.getLogger("wmh.build")

FAILED_MARK = "wmh-build-failed.txt"  # in a sweep member's Hydra folder: why it failed


class SweepFailures(Callback):
    """Ends a sweep whose members failed with exit code 1 and one line naming them, once every
    member has run (each failed member leaves FAILED_MARK in its Hydra folder, from whichever
    process the launcher ran it in)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        for stale in Path(config.hydra.sweep.dir).glob(f"**/{FAILED_MARK}"):
            stale.unlink()  # a sweep run before into the same folder

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        marks = sorted(Path(config.hydra.sweep.dir).glob(f"**/{FAILED_MARK}"))
        if marks:
            names = [mark.read_text().split(":", 1)[0] for mark in marks]
            print(
                f"error: {counted(len(names), 'sweep member')} failed: {', '.join(names)} "
                "(the error of each is above; the other members were built)",
                file=sys.stderr,
            )
            sys.exit(1)


register_schema()


def swept_values(task_overrides: list[str], argv: list[str]) -> str:
    """`retrieval.top_k=3 seed=1`: this sweep member's values of the keys the command line
    sweeps (`key=a,b`, `range(...)`, `choice(...)`), which tell the members apart."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    try:
        swept = {
            o.key_or_group
            for o in parser.parse_overrides([a for a in argv if "=" in a and a[0] != "-"])
            if o.is_sweep_override()
        }
        mine = parser.parse_overrides(task_overrides)
    except Exception:  # noqa: BLE001 - only a label: never fail a build over it
        return ""
    return " ".join(o.input_line or "" for o in mine if o.key_or_group in swept)


def _to_log_files(message: str, traceback: bool = False) -> None:
    """An error into the run's log file (Hydra's `build.log`) alone: the terminal is told once,
    by the `error:` line printed beside it (Hydra's console handler printed it a second time)."""
    record = log.makeRecord(
        log.name,
        logging.ERROR,
        __file__,
        0,
        "%s",
        (message,),
        sys.exc_info() if traceback else None,
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Build one world model; returns its held-out score (what a sweeper optimises)."""
    hydra_cfg = HydraConfig.get()
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    name = str(cfg.get("name") or "")
    if sweeping:
        name = f"{name}-{hydra_cfg.job.num}"
    try:
        settings = to_settings(cfg)
        varied = ""
        if sweeping:
            varied = swept_values(list(hydra_cfg.overrides.task), sys.argv[1:])
            # Each sweep member is its own model (`name-0`, `name-1`, ...) and its own MLflow
            # run in one experiment named after the sweep, so the UI compares them side by side.
            settings.experiment = settings.experiment or settings.name
            settings.name = name

        def done(stage: str, seconds: float) -> None:
            print(f"{settings.name}: {stage} done in {seconds:.2f}s", file=sys.stderr, flush=True)

        result = build_world_model(settings, on_done=done)
    except Exception as exc:
        if not sweeping:
            if not isinstance(exc, WmhError):
                raise
            _to_log_files(str(exc))
            print(f"error: {exc}", file=sys.stderr)  # e.g. no name=: one line
            sys.exit(1)
        # The sweep goes on with its other members (an exit here ended it, and members under
        # way in other processes with it); its end names the failed ones (SweepFailures). A
        # fault of wmh's own (not a WmhError) keeps its traceback, in the member's log.
        said = str(exc) if isinstance(exc, WmhError) else f"{type(exc).__name__}: {exc}"
        _to_log_files(said, traceback=not isinstance(exc, WmhError))
        print(f"error: {name}: {said}", file=sys.stderr)
        (Path(hydra_cfg.runtime.output_dir) / FAILED_MARK).write_text(f"{name}: {said}\n")
        return None
    score = result.heldout.overall.score if result.heldout else None
    for warning in result.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    label = f" ({varied})" if varied else ""
    print(
        f"built {result.name}{label} at {result.path}: {result.report.summary()}; "
        f"held-out fidelity {score if score is not None else 'n/a'}"
    )
    return score


# Hydra's options that take a value (`hydra --help`).
_VALUED_OPTIONS = frozenset(
    {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-sc",
     "--shell-completion", "--experimental-rerun", "-c", "--cfg", "-p", "--package", "-i",
     "--info"}
)  # fmt: skip


def check_arguments(argv: list[str]) -> None:
    """Refuse an override of a key the config does not have before Hydra composes it, in one
    line naming the closest key, as `wmh build -o` does: Hydra adds a `+key=` it does not know
    and ignores it (a misspelt key built a model without it), and answers a misspelt plain key
    with a page suggesting `+key=`. A URL with credentials is refused here too, as the build
    refuses it: Hydra writes the overrides into its run folder first."""
    overrides, skip = [], False
    for arg in argv:
        if skip:  # the value of an option, not an override (`-sc install=bash`)
            skip = False
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif "=" in arg and not arg.startswith("-"):
            overrides.append(arg)
    if any(arg in ("-sc", "--shell-completion") for arg in argv):
        return  # completing the shell's line: Hydra answers, nothing is built
    try:
        check_override_keys(overrides)
        for override in overrides:  # before Hydra writes them into its run folder
            key, _, value = override.lstrip("+~").partition("=")
            error = credentials_error(key, value)
            if error is not None:
                raise error
        check_folders(argv, overrides)
    except WmhError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


# Folders Hydra makes before the build runs (the store's, its own run and sweep folders): one it
# cannot make was a Python traceback from inside Hydra.
_FOLDERS = frozenset({"root", "hydra.run.dir", "hydra.sweep.dir"})
# Options with which Hydra prints and builds nothing: no folder is checked.
_NOTHING_RUNS = frozenset({"-c", "--cfg", "-h", "--help", "--hydra-help", "-i", "--info"})


def check_folders(argv: list[str], overrides: list[str]) -> None:
    """ConfigError for a folder override (`_FOLDERS`, one value, no interpolation) that cannot
    be made: the nearest folder that exists above it is a file or not writable. Nothing is made
    here."""
    if any(arg in _NOTHING_RUNS for arg in argv):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - Hydra says what is wrong with an override itself
        return
    for override in parsed:
        if override.key_or_group not in _FOLDERS or override.is_sweep_override():
            continue
        value = override.value()
        if not isinstance(value, str) or not value or "${" in value:
            continue
        _check_folder(override.key_or_group, Path(value))


def _check_folder(key: str, folder: Path) -> None:
    above = folder.absolute()
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ConfigError(f"{key}={folder}: cannot make that folder: {above} is a file")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={folder}: cannot make that folder: {above} is not writable")


if __name__ == "__main__":
    apply_offline_defaults()
    check_arguments(sys.argv[1:])
    main()

"""`python -m wmh.build name=... data.files=[...]`: the Hydra entry point for builds and sweeps.

A thin shell over `wmh.pipeline.build_world_model`; `-m` runs a sweep, one build per member.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from wmh.config.compose import CONF_DIR, check_override_keys, register_schema, to_settings
from wmh.errors import ConfigError, WmhError
from wmh.offline import apply_offline_defaults
from wmh.pipeline.build import build_world_model, credentials_error

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
                f"error: {len(names)} sweep member(s) failed: {', '.join(names)} (the error of "
                "each is above; the other members were built)",
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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Build one world model; returns its held-out score (what a sweeper optimises)."""
    try:
        settings = to_settings(cfg)
    except WmhError as exc:  # e.g. no name=: one line, as every other error here
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    hydra_cfg = HydraConfig.get()
    varied = ""
    if hydra_cfg.mode == RunMode.MULTIRUN:
        varied = swept_values(list(hydra_cfg.overrides.task), sys.argv[1:])
        # Each sweep member is its own model (`name-0`, `name-1`, ...) and its own MLflow run
        # in one experiment named after the sweep, so the UI compares them side by side.
        settings.experiment = settings.experiment or settings.name
        settings.name = f"{settings.name}-{hydra_cfg.job.num}"

    def done(stage: str, seconds: float) -> None:
        print(f"{settings.name}: {stage} done in {seconds:.2f}s", file=sys.stderr, flush=True)

    try:
        result = build_world_model(settings, on_done=done)
    except WmhError as exc:
        log.error("%s", exc)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
        # The sweep goes on with its other members (an exit here ended it, and members under
        # way in other processes with it); its end names the failed ones (SweepFailures).
        print(f"error: {settings.name}: {exc}", file=sys.stderr)
        (Path(hydra_cfg.runtime.output_dir) / FAILED_MARK).write_text(f"{settings.name}: {exc}\n")
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
            if key in _FOLDERS and value and "${" not in value:
                _check_folder(key, value)
    except WmhError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


# Folders Hydra makes before the build runs (the store's, its own run and sweep folders): one it
# cannot make was a Python traceback from inside Hydra.
_FOLDERS = frozenset({"root", "hydra.run.dir", "hydra.sweep.dir"})


def _check_folder(key: str, value: str) -> None:
    try:
        Path(value).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{key}={value}: cannot create that folder ({exc.strerror})") from None


if __name__ == "__main__":
    apply_offline_defaults()
    check_arguments(sys.argv[1:])
    main()

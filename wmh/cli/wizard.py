"""The guided `wmh build`: on a terminal with nothing to build from, ask for each input (with
defaults), show a summary and the equivalent non-interactive command, then build the same way."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.prompt import Confirm, IntPrompt, Prompt
from rich.table import Table

from wmh.config.compose import CONF_DIR, quote_override
from wmh.core.secrets import has_credentials, redact_urls
from wmh.errors import ConfigError, WmhError
from wmh.store.store import check_model_name


def _choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _name_from(text: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-_")
    return stem or "world-model"


def _shown(override: str) -> str:
    key, sep, value = override.partition("=")
    return key + sep + redact_urls(value) if sep else override


def _ask_url(console: Console, question: str, default: str, instead: str) -> str:
    """A server's URL, asked again while it carries credentials (which the build would refuse
    after the questions, and the command shown would repeat)."""
    while True:
        url = Prompt.ask(question, default=default, show_default=not has_credentials(default))
        if not has_credentials(url):
            return url
        console.print(f"that URL carries credentials: give it without them and set {instead}")


def run_wizard(console: Console, root: Path | None = None, given: Sequence[str] = ()) -> list[str]:
    """Ask for the build's inputs; returns the Hydra overrides (and prints the command, with
    the `--root` and `-o` overrides it was started with)."""
    console.print("[bold]wmh build[/]: a few questions (Enter takes the default).", markup=True)
    source = Prompt.ask("Trace source", choices=["files", "mlflow", "phoenix"], default="files")
    overrides: list[str] = []
    flags: list[str] = []
    if source == "files":
        while True:
            raw = Prompt.ask("Trace file(s) or folder, comma-separated")
            paths = [p.strip() for p in raw.split(",") if p.strip()]
            missing = [p for p in paths if not Path(p).exists()]
            if paths and not missing:
                break
            console.print(f"not found: {', '.join(missing) or '(nothing given)'}")
        overrides.append("data.files=[" + ",".join(quote_override(p) for p in paths) + "]")
        flags += [f"--file {shlex.quote(p)}" for p in paths]
        default_name = _name_from(Path(paths[0]).name.split(".")[0])
    elif source == "phoenix":
        endpoint = _ask_url(
            console,
            "Phoenix server",
            os.environ.get("PHOENIX_COLLECTOR_ENDPOINT", "http://localhost:6006"),
            "PHOENIX_API_KEY",
        )
        project = Prompt.ask("Project holding the traces", default="default")
        for key, value in (
            ("source", "phoenix"),
            ("source.endpoint", endpoint),
            ("source.project", project),
        ):
            overrides.append(f"{key}={quote_override(value)}")
            flags.append(f"-o {shlex.quote(f'{key}={value}')}")
        default_name = _name_from(project)
    else:
        uri = _ask_url(
            console,
            "MLflow tracking URI",
            os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
        )
        experiment = Prompt.ask("Experiment holding the traces")
        for key, value in (
            ("source", "mlflow"),
            ("source.tracking_uri", uri),
            ("source.experiment", experiment),
        ):
            overrides.append(f"{key}={quote_override(value)}")
            flags.append(f"-o {shlex.quote(f'{key}={value}')}")
        default_name = _name_from(experiment)
    while True:
        name = Prompt.ask("Model name", default=default_name)
        try:
            check_model_name(name)
            break
        except WmhError as exc:
            console.print(str(exc))
    provider = Prompt.ask("Provider", choices=_choices("provider"), default="replay")
    chosen = {"provider": provider}
    if provider != "replay":
        chosen["provider.model"] = Prompt.ask(
            "Provider model (litellm name, e.g. openai/gpt-4o-mini)"
        )
    chosen["embedder"] = Prompt.ask("Embedder", choices=_choices("embedder"), default="hashing")
    if provider != "replay":
        chosen["gepa.budget"] = str(IntPrompt.ask("GEPA budget (metric calls; 0 skips)", default=0))
    for key, value in chosen.items():
        overrides.append(f"{key}={quote_override(value)}")
        flags.append(f"-o {shlex.quote(f'{key}={value}')}")
    overrides.append(f"name={quote_override(name)}")
    table = Table(title="build", show_header=False, title_justify="left")
    table.add_row("source", source)
    table.add_row("model name", name)
    for key, value in chosen.items():
        table.add_row(key, value)
    console.print(table)
    # Given first, as the build applies them (the answers after them win), URLs without their
    # credentials (the build refuses those anyway).
    started = [f"--root {shlex.quote(str(root))}"] if root is not None else []
    started += [f"-o {shlex.quote(_shown(o))}" for o in given]
    command = " ".join(
        ["wmh build --name", shlex.quote(name), *started, *flags, "--no-interactive"]
    )
    console.print("the same without questions:", highlight=False)
    console.print(command, highlight=False, markup=False, soft_wrap=True)
    if not Confirm.ask("Build now?", default=True):
        raise ConfigError("build cancelled")
    return overrides

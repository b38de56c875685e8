"""The `wmh` typer app: one module per command group, imported only when its command runs (so
`wmh --help` and a mistyped command answer without loading the build, MLflow or BentoML), and
errors turned into messages. A command's module in turn imports what its commands run (config
composer, store, engine, build pipeline) inside them, so its own `--help` stays as quick."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer import _click as click
from typer.core import TyperCommand, TyperGroup

from wmh.errors import WmhError
from wmh.offline import apply_offline_defaults

# name: (module, attribute, a group (Typer app) or one command, the one line `wmh --help` shows)
COMMANDS: dict[str, tuple[str, str, bool, str]] = {
    "build": ("wmh.cli.build", "build", False,
              "Build a world model from trace files (or a guided set of questions on a terminal)."),
    "list": ("wmh.cli.models", "list_models", False, "List built world models."),
    "play": ("wmh.cli.play", "play", False,
             "Step a world model interactively (or from piped lines)."),
    "ui": ("wmh.cli.ui", "ui", False,
           "Start the MLflow UI on the tracking store builds and evals log to (Ctrl-C stops it)."),
    "serve": ("wmh.cli.serve", "serve", False,
              "Serve world models over HTTP (OpenAPI at /docs)."),
    "package": ("wmh.cli.package", "package", False,
                "Package a world model as a BentoML bento (then: bentoml serve TAG)."),
    "demo": ("wmh.cli.demo", "demo", False,
             "Run an agent for a few steps: action, observation and latency for each."),
    "mcp": ("wmh.cli.mcp", "mcp", False,
            "Serve a world model as an MCP server (tools inferred from its traces)."),
    "collect": ("wmh.cli.collect", "collect", False,
                "Collect OTLP/HTTP trace exports (protobuf or JSON, POST /v1/traces) into FILE."),
    "examples": ("wmh.cli.examples", "app", True, "Shipped example environments."),
    "eval": ("wmh.cli.evaluate", "app", True, "Fidelity of a world model on held-out traces."),
    "study": ("wmh.cli.study", "app", True,
              "Fidelity studies: trace scaling and seed stability, as sweeps logged to MLflow."),
    "providers": ("wmh.cli.providers", "app", True, "LLM providers of the built world models."),
    "pipeline": ("wmh.cli.pipeline", "app", True,
                 "The build as DVC stages (ingest, split, index, optimize, evaluate, package)."),
}  # fmt: skip


class LazyCommands(TyperGroup):
    """Commands loaded when they run; `wmh --help` lists them from COMMANDS alone."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, group, summary = entry
        if self.listing:
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        target: Any = getattr(importlib.import_module(module), attribute)
        if group:
            command: click.Command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="wmh",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def wmh() -> None:
    """World-model harness: turn recorded agent traces into a simulated environment."""


err_console = Console(stderr=True)


def main() -> None:
    """Console entry point: a WmhError becomes one clear line and exit status 1."""
    apply_offline_defaults()  # before any command imports litellm, MLflow or BentoML
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except WmhError as exc:
        # The message is text: a path like `[/data]` in it is shown, not read as markup.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        sys.exit(1)

"""Pieces shared by the CLI commands: the console and the store root option."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(highlight=False)

RootOption = typer.Option(Path(".wmh"), "--root", help="Store root holding models/ (default .wmh).")

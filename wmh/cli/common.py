"""Pieces shared by the CLI commands: consoles, the store root option, override quoting."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(highlight=False)

RootOption = typer.Option(Path(".wmh"), "--root", help="Store root holding models/ (default .wmh).")


def quote_override(value: str) -> str:
    """Quote a value for a Hydra override so paths with spaces or commas stay one string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

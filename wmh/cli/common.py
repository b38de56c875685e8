"""Pieces shared by the CLI commands: the console and the store root option."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

console = Console(highlight=False)

RootOption = typer.Option(Path(".wmh"), "--root", help="Store root holding models/ (default .wmh).")


LONGEST_UNBROKEN = 24  # a longer word (a path, say) may be cut across lines


def narrow_table(headers: Sequence[str], rows: Sequence[Sequence[str]], **options: Any) -> Table:
    """A table that stays readable at 80 columns (piped output): a column is at least as wide as
    its header and its longest word (up to `LONGEST_UNBROKEN`), so cells wrap between words,
    not inside numbers and dates (`0.788/0.` over `742`, `2026-11-3` over `0 18:19`), and a
    long value folds onto more lines rather than ending in an ellipsis (three tools shown as
    `update_res…` could not be told apart)."""
    columns = []
    for number, header in enumerate(headers):
        words = [w for row in rows for w in str(row[number]).split()] + header.split()
        width = min(max(map(len, words), default=0), LONGEST_UNBROKEN)
        columns.append(Column(header, min_width=max(width, 1), overflow="fold"))
    options = {"box": box.SIMPLE_HEAD, "pad_edge": False, "collapse_padding": True, **options}
    table = Table(*columns, **options)
    for row in rows:
        table.add_row(*row)
    return table

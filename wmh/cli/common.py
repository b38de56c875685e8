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


SHORT_WORD = 12  # a word this long or shorter (a score, a date, a header) is cut last


def fitted_widths(natural: list[int], words: list[int], room: int) -> list[int]:
    """Column widths that fit `room`, from each column's natural width (its longest line): one
    character at a time is taken from the column with the most room to wrap between words (its
    width beyond its longest word); when none has any, from the widest column whose words are
    long (names, paths: they fold), down to `SHORT_WORD`; only then from the widest."""
    widths = list(natural)
    floors = [min(word, SHORT_WORD) for word in words]
    while sum(widths) > room:
        slack = [width - word for width, word in zip(widths, words, strict=True)]
        cut = max(range(len(widths)), key=lambda i: (slack[i], widths[i]))
        if slack[cut] <= 0:
            cut = max(range(len(widths)), key=lambda i: (widths[i] > floors[i], widths[i]))
            if widths[cut] <= 1:
                break
        widths[cut] -= 1
    return widths


def narrow_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None, **options: Any
) -> Table:
    """A table that fits `width` (the console's by default; piped output is 80 columns) with
    every column shown: cells wrap between words where a column has room to, not inside tool
    names, scores and dates (`0.788/0.` over `742`, `2026-11-3` over `0 18:19`), and a word
    too long for any room folds onto the next line rather than ending in an ellipsis (three
    tools shown as `update_res…` could not be told apart)."""
    texts = [[*map(str, row)] for row in rows]
    natural, words = [], []
    for number, header in enumerate(headers):
        cells = [header, *(row[number] for row in texts)]
        natural.append(max(len(line) for cell in cells for line in cell.splitlines() or [""]))
        words.append(max((len(word) for cell in cells for word in cell.split()), default=0))
    # Two spaces between columns; one where two would leave a short word cut.
    total = width or console.width
    gap = 2
    if sum(min(word, SHORT_WORD) for word in words) > total - 2 * (len(headers) - 1):
        gap = 1
        options.setdefault("padding", (0, 0))
    widths = fitted_widths(natural, words, total - gap * (len(headers) - 1))
    columns = [
        Column(header, width=max(size, 1), overflow="fold")
        for header, size in zip(headers, widths, strict=True)
    ]
    options = {
        "box": box.SIMPLE_HEAD,
        "show_edge": False,
        "pad_edge": False,
        "collapse_padding": True,
        **options,
    }
    table = Table(*columns, **options)
    for row in texts:
        table.add_row(*row)
    return table

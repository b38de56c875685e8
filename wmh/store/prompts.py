"""A model directory's environment prompts: the base prompt it was built from, and GEPA's
optimized prompt with its Pareto frontier when the optimisation ran."""

from __future__ import annotations

from typing import Any

import orjson

from wmh.store.layout import ModelFiles


def write_prompts(
    files: ModelFiles, base: str, optimized: str | None, frontier: dict[str, Any] | None
) -> None:
    files.prompts_dir.mkdir()
    files.base_prompt.write_text(base, encoding="utf-8")
    if optimized is not None:
        files.optimized_prompt.write_text(optimized, encoding="utf-8")
    if frontier is not None:
        files.frontier.write_bytes(orjson.dumps(frontier, option=orjson.OPT_INDENT_2))


def model_prompt(files: ModelFiles) -> str:
    """The prompt a model answers with: the optimized one, else the base one, else none."""
    for path in (files.optimized_prompt, files.base_prompt):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""

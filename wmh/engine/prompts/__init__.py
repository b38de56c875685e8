"""Prompt texts shipped with wmh (the base environment prompt)."""

from importlib.resources import files


def base_prompt() -> str:
    return files(__name__).joinpath("base.txt").read_text(encoding="utf-8")

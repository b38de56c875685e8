"""Prompt texts shipped with wmh (the base environment prompt); `engine/llm_prompt.py` renders
them into an LLM's messages."""

from importlib.resources import files


def base_prompt() -> str:
    return files(__name__).joinpath("base.txt").read_text(encoding="utf-8")

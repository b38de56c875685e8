"""Text sizes: a fast token estimate, and cutting a text to a budget with a visible marker.

Prompts (the LLM world model's, the rubric judges', an LLM agent's) and GEPA's reflective dataset
all cut long observations the same way, so a reader always sees what was left out.
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    """A fast, deliberately generous token estimate (about 3.5 characters a token)."""
    return (len(text) * 2 + 6) // 7


def clip(text: str, max_tokens: int, what: str = "text") -> str:
    """Cut text to about `max_tokens`, keeping head and tail, with a visible marker."""
    if estimate_tokens(text) <= max_tokens:
        return text
    keep = max(16, max_tokens * 7 // 2)
    head, tail = text[: keep * 2 // 3], text[-(keep // 3) :]
    return f"{head}\n[… {what} truncated: {len(text) - len(head) - len(tail)} characters …]\n{tail}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 trace`, `2 traces`: a count with its noun in the number it takes."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

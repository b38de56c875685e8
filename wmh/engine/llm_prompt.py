"""The LLM predictor's prompt: rendered within a hard token budget, and its answer parsed back
(the texts it starts from are `engine/prompts/`).

The prompt is the model's environment instructions, the task, the session's seed records, its
scratchpad, the session so far (newest turns kept), the top-k recorded examples of the same tool,
and the action.
Whatever does not fit is cut with a visible marker, never silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from wmh.core.text import clip, estimate_tokens
from wmh.core.types import Action, Observation, Session
from wmh.retrieval.retriever import Neighbour

OUTPUT_FORMAT = """Answer with exactly this format and nothing else:
<observation is_error="false">
...what the environment prints or returns for this action...
</observation>
<scratchpad>
...short notes of state you must stay consistent with later (ids, values, files), or empty...
</scratchpad>
Use is_error="true" when the environment answers with an error."""

# `provider.answer_format=json_schema`: the server holds the answer to this object's schema.
OUTPUT_FORMAT_JSON = """Answer with one JSON object and nothing else:
{"observation": "...what the environment prints or returns for this action, as one string...", \
"is_error": false, \
"scratchpad": "...short notes of state you must stay consistent with later (ids, values, files), \
or empty..."}
Use "is_error": true when the environment answers with an error."""

_OBSERVATION = re.compile(
    r"<observation(?:\s+is_error\s*=\s*[\"']?(?P<flag>true|false)[\"']?)?\s*>\n?(?P<body>.*?)\n?"
    r"</observation>",
    re.DOTALL | re.IGNORECASE,
)
# The closing tag may be missing: it is the stop sequence, which servers leave out of the text.
_SCRATCHPAD = re.compile(
    r"<scratchpad>\n?(?P<body>.*?)\n?(?:</scratchpad>|\Z)", re.DOTALL | re.IGNORECASE
)


@dataclass(frozen=True)
class PromptBudget:
    """Token budget of one prompt and the share of it each variable part may use."""

    total: int = 2000
    examples_share: float = 0.45
    history_share: float = 0.3
    observation_cap: int = 300  # tokens of one example's or turn's observation


@dataclass(frozen=True)
class RenderedPrompt:
    messages: list[dict[str, str]]
    tokens: int
    examples: int
    history_turns: int
    truncated: bool


def _action_line(action: Action) -> str:
    return action.render() if action.kind.value == "tool_call" else f"(message) {action.content}"


def _observation_block(observation: Observation, cap: int) -> str:
    flag = "true" if observation.is_error else "false"
    return (
        f'<observation is_error="{flag}">\n{clip(observation.content, cap, "output")}\n'
        "</observation>"
    )


def _fit(blocks: list[str], budget: int, newest_first: bool, what: str) -> tuple[list[str], bool]:
    """Keep whole blocks while they fit; say how many were left out."""
    kept: list[str] = []
    used = 0
    order = list(reversed(blocks)) if newest_first else list(blocks)
    for block in order:
        cost = estimate_tokens(block)
        if used + cost > budget:
            break
        kept.append(block)
        used += cost
    left_out = len(blocks) - len(kept)
    if newest_first:
        kept.reverse()
    if left_out:
        marker = f"[… {left_out} {what} omitted to stay within the prompt budget …]"
        kept = [marker, *kept] if newest_first else [*kept, marker]
    return kept, left_out > 0


def render_prompt(
    instructions: str,
    session: Session,
    action: Action,
    examples: Sequence[Neighbour],
    budget: PromptBudget,
    answer_format: str = "tags",
) -> RenderedPrompt:
    """The chat messages for one prediction (`answer_format`: as `provider.answer_format`)."""
    cap = budget.observation_cap
    example_blocks = [
        f"Action: {_action_line(n.step.action)}\n{_observation_block(n.step.observation, cap)}"
        for n in examples
    ]
    turn_blocks = [
        f"Action: {_action_line(t.action)}\n{_observation_block(t.observation, cap)}"
        for t in session.history
    ]
    kept_examples, cut_examples = _fit(
        example_blocks,
        int(budget.total * budget.examples_share),
        newest_first=False,
        what="examples",
    )
    kept_turns, cut_turns = _fit(
        turn_blocks,
        int(budget.total * budget.history_share),
        newest_first=True,
        what="earlier turns",
    )
    scratchpad = clip(session.state.scratchpad, budget.total // 10, "scratchpad")
    sections = [
        f"## Task the agent is working on\n{clip(session.task, budget.total // 10, 'task')}",
    ]
    if session.state.structured:
        shown = json.dumps(session.state.structured, ensure_ascii=False, sort_keys=True)
        sections.append(
            "## The environment's records when the session started (stay consistent with them)"
            f"\n{clip(shown, budget.total // 8, 'records')}"
        )
    sections += [
        f"## Your notes on the environment's state\n{scratchpad or '(none yet)'}",
        "## Recorded examples of this environment (real answers to similar actions)\n"
        + ("\n\n".join(kept_examples) or "(none)"),
        "## This session so far\n" + ("\n\n".join(kept_turns) or "(no actions yet)"),
        "## The action to answer\n"
        + _action_line(action)
        + (
            f"\nArguments: {json.dumps(action.arguments, ensure_ascii=False)}"
            if action.arguments
            else ""
        ),
        OUTPUT_FORMAT_JSON if answer_format == "json_schema" else OUTPUT_FORMAT,
    ]
    messages = [
        {"role": "system", "content": instructions.strip()},
        {"role": "user", "content": "\n\n".join(sections)},
    ]
    tokens = sum(estimate_tokens(m["content"]) for m in messages)
    return RenderedPrompt(
        messages, tokens, len(examples), len(session.history), cut_examples or cut_turns
    )


@dataclass(frozen=True)
class ParsedAnswer:
    observation: Observation
    scratchpad: str | None
    strict: bool


def parse_answer(text: str, answer_format: str = "tags") -> ParsedAnswer:
    """The observation in a completion: the JSON object (`answer_format="json_schema"`) or the
    strict tags first, else the whole text as content. Never raises: a cut, malformed or
    pathological JSON answer (deep nesting, a lone surrogate) is read as unformatted text."""
    if answer_format == "json_schema" and text.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:  # cut short or malformed: read as unformatted below
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("observation"), str):
            notes = parsed.get("scratchpad")
            return ParsedAnswer(
                Observation(content=parsed["observation"], is_error=parsed.get("is_error") is True),
                notes.strip() if isinstance(notes, str) else None,
                True,
            )
    match = _OBSERVATION.search(text)
    pad = _SCRATCHPAD.search(text)
    scratchpad = pad.group("body").strip() if pad else None
    if match:
        flag = (match.group("flag") or "false").lower() == "true"
        return ParsedAnswer(
            Observation(content=match.group("body"), is_error=flag), scratchpad, True
        )
    body = _SCRATCHPAD.sub("", text).strip()
    looks_like_error = body.lower().startswith(("error", "traceback", "exception"))
    return ParsedAnswer(Observation(content=body, is_error=looks_like_error), scratchpad, False)

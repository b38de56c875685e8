"""An agent driven by an LLM (any provider litellm reaches): it sees the task, the tools the
environment knows and the turns so far, and answers one JSON action per turn."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from wmh.core.types import Action, ActionKind, Turn
from wmh.engine.prompting import clip
from wmh.providers.llm import LLMProvider

SYSTEM = """You are an agent solving a task by calling tools of an environment.
Answer with exactly one JSON object and nothing else:
{"tool": "<tool name>", "arguments": {...}} to call a tool,
{"message": "<text>"} to say something to the user, or
{"done": true} when the task is finished.
Tools: {tools}"""

_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse_action(text: str) -> Action | None:
    """The agent's JSON answer as an Action; None when it says it is done. Unparseable text is
    taken as a message, so a chatty model still makes progress."""
    match = _JSON.search(text)
    data = None
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        return Action(kind=ActionKind.MESSAGE, content=text.strip())
    if data.get("done"):
        return None
    if isinstance(data.get("tool"), str) and data["tool"]:
        arguments = data.get("arguments")
        return Action(
            kind=ActionKind.TOOL_CALL,
            name=data["tool"],
            arguments=arguments if isinstance(arguments, dict) else {},
        )
    return Action(kind=ActionKind.MESSAGE, content=str(data.get("message", "")).strip() or "ok")


class LLMAgent:
    name = "llm"

    def __init__(self, provider: LLMProvider, tools: Iterable[str], max_tokens: int = 400) -> None:
        self.provider = provider
        self.tools = sorted(tools)
        self.max_tokens = max_tokens

    def messages(self, task: str, history: Sequence[Turn]) -> list[dict[str, str]]:
        out = [
            {"role": "system", "content": SYSTEM.replace("{tools}", ", ".join(self.tools))},
            {"role": "user", "content": f"Task: {task}"},
        ]
        for turn in history:
            out.append({"role": "assistant", "content": turn.action.render()})
            out.append(
                {
                    "role": "user",
                    "content": clip(turn.observation.content, self.max_tokens, "observation"),
                }
            )
        return out

    def act(self, task: str, history: Sequence[Turn]) -> Action | None:
        return parse_action(self.provider.complete(self.messages(task, history)).text)

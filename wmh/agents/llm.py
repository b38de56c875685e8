"""An agent driven by an LLM (any provider litellm reaches). It is offered the environment's tools
through litellm's tool calling (names and argument JSON schemas) and sees the task and the turns
so far; a tool call is its action. A model that answers in text instead may write the same JSON
(`{"tool": ..., "arguments": ...}`, `{"message": ...}`, `{"done": true}`); other text is a
message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wmh.core.action_json import parse_action_json
from wmh.core.text import clip
from wmh.core.types import Action, ActionKind, Turn
from wmh.providers.llm import LLMProvider

SYSTEM = """You are an agent solving a task by calling tools of an environment.
Call one tool per turn. If you cannot call tools, answer with exactly one JSON object:
{"tool": "<tool name>", "arguments": {...}} to call a tool,
{"message": "<text>"} to say something to the user, or
{"done": true} when the task is finished.
Tools: {tools}"""


def parse_action(text: str) -> Action | None:
    """The agent's JSON answer as an Action; None when it says it is done. Unparseable text is
    taken as a message, so a chatty model still makes progress."""
    return parse_action_json(text, lenient=True)


class LLMAgent:
    name = "llm"

    def __init__(
        self,
        provider: LLMProvider,
        tools: Iterable[str] | Mapping[str, Mapping[str, Any]],
        max_tokens: int = 400,
    ) -> None:
        """`tools`: names, or name -> {description, inputSchema} (`Env.tools()`)."""
        self.provider = provider
        self.schemas: dict[str, Mapping[str, Any]] = (
            {name: spec for name, spec in tools.items()}
            if isinstance(tools, Mapping)
            else {name: {} for name in tools}
        )
        self.tools = sorted(self.schemas)
        self.max_tokens = max_tokens

    def tool_specs(self) -> list[dict[str, Any]]:
        """The tools in the OpenAI function format litellm translates for every provider."""
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": str(self.schemas[name].get("description", name)),
                    "parameters": dict(
                        self.schemas[name].get("inputSchema", {"type": "object", "properties": {}})
                    ),
                },
            }
            for name in self.tools
        ]

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
        completion = self.provider.complete(
            self.messages(task, history), tools=self.tool_specs(), tool_choice="auto"
        )
        if completion.tool_calls:
            name, arguments = completion.tool_calls[0]
            return Action(kind=ActionKind.TOOL_CALL, name=name, arguments=arguments)
        return parse_action(completion.text)

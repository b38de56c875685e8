"""The `llm` predictor: a provider (through litellm) plays the environment, prompted with the
model's environment prompt, the session and retrieved examples. Exact replays answer first when
the cache is on (cheaper, and deterministic); provider failures become error observations.

Each call tells the server where an answer ends (a stop sequence at the scratchpad's closing
tag) and how long it may be: the longest observation the corpus recorded for the tool, half again
plus room for the tags and notes, never above `provider.max_tokens`. A small local model that
does not stop by itself would otherwise write until `max_tokens` on every call. With
`provider.answer_format=json_schema` the server is given the answer's JSON schema instead, its
observation no longer than that bound allows, so it decodes nothing after the object closes. With
`provider.context_window` set, the prompt is cut so that it and the answer fit the server's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from wmh.core.text import estimate_tokens
from wmh.core.types import Action, Observation
from wmh.engine.llm_prompt import PromptBudget, RenderedPrompt, parse_answer, render_prompt
from wmh.engine.policy import ReplayPolicies, ReplayPolicy
from wmh.engine.predictor import PredictionContext, context_query
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ProviderError
from wmh.providers.llm import Completion, LLMProvider
from wmh.retrieval.retriever import Retriever
from wmh.retrieval.text import route_of

CACHE_SOURCES = ("session_replay", "corpus_replay")
STOP = ["</scratchpad>"]  # the end of the answer format (parse_answer reads it without the tag)
ANSWER_HEADROOM = 1.5  # times the longest recorded observation of the tool
ANSWER_EXTRA_TOKENS = 256  # the tags and the scratchpad
# Of a context window, the share a prompt may fill by wmh's estimate: a server's tokenizer can
# count more tokens in the same text (SmolLM2's does, on JSON).
WINDOW_SAFETY = 0.8
MIN_PROMPT_TOKENS = 256
MIN_ANSWER_TOKENS = 16  # fewer left by a small window: no call is made
SCRATCHPAD_CHARS = 400  # of a JSON answer's notes
MIN_CHARS_PER_TOKEN = 2  # what a JSON answer's length bound assumes a token holds, at least
JSON_KEYS_TOKENS = 32  # the object's keys, quotes and flag


def answer_budget(longest_observation_tokens: int, cap: int) -> int:
    """max_tokens for an answer of a tool whose longest recorded observation is this long."""
    wanted = int(longest_observation_tokens * ANSWER_HEADROOM) + ANSWER_EXTRA_TOKENS
    return max(1, min(cap, wanted))


def json_answer_budget(longest_chars: int, cap: int) -> int:
    """max_tokens for a JSON answer: room for half again the longest recorded observation and
    the notes at two characters a token, plus the object's keys; never above `cap`."""
    wanted = (int(longest_chars * ANSWER_HEADROOM) + SCRATCHPAD_CHARS) // MIN_CHARS_PER_TOKEN
    return max(1, min(cap, wanted + JSON_KEYS_TOKENS))


def answer_lengths(longest_chars: int, max_tokens: int) -> tuple[int, int]:
    """(observation, notes) characters a JSON answer may hold: what `max_tokens` can write at two
    characters a token beside the keys, the notes a quarter of it at most, the observation half
    again the tool's longest recorded one at most (so the object closes before `max_tokens` cuts
    it)."""
    room = max(0, max_tokens - JSON_KEYS_TOKENS) * MIN_CHARS_PER_TOKEN
    notes = min(SCRATCHPAD_CHARS, room // 4)
    wanted = int(longest_chars * ANSWER_HEADROOM) if longest_chars else room - notes
    return max(1, min(wanted, room - notes)), notes


def answer_schema(observation_max: int, notes_max: int) -> dict[str, Any]:
    """The `response_format` of a JSON answer: a server that decodes under it writes nothing
    else, and the answer ends where the object closes."""
    schema = {
        "type": "object",
        "properties": {
            "observation": {"type": "string", "maxLength": observation_max},
            "is_error": {"type": "boolean"},
            "scratchpad": {"type": "string", "maxLength": notes_max},
        },
        "required": ["observation", "is_error", "scratchpad"],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "environment_answer", "schema": schema}}


def fit_window(max_tokens: int, window: int) -> tuple[int, int]:
    """(max_tokens, prompt limit) of one call to a server holding `window` tokens (0: any, no
    limit): the answer keeps at most half the window, the prompt gets what is left, less a
    margin for the server's tokenizer counting more than wmh's estimate."""
    if window <= 0:
        return max_tokens, 0
    answer = min(max_tokens, window // 2)
    return answer, max(MIN_PROMPT_TOKENS, int((window - answer) * WINDOW_SAFETY))


def _shrunk(budget: PromptBudget, excess: int) -> PromptBudget:
    total = max(MIN_PROMPT_TOKENS, min(budget.total - excess, budget.total * 3 // 4))
    return replace(budget, total=total, observation_cap=min(budget.observation_cap, total // 8))


class LLMPredictor:
    name = "llm"

    def __init__(
        self,
        provider: LLMProvider,
        retriever: Retriever,
        instructions: str,
        replay: ReplayPredictor,
        top_k: int = 5,
        cache: bool = True,
        budget: PromptBudget | None = None,
        replay_tools: frozenset[str] = frozenset(),
    ) -> None:
        self.provider = provider
        self.retriever = retriever
        self.instructions = instructions
        self.replay = replay
        # The cache is exact replay (the session's, then the corpus's), whatever parts the
        # replay model chose for answering on its own.
        self._exact = replay.with_policies(ReplayPolicies(default=ReplayPolicy()))
        self.top_k = top_k
        self.cache = cache
        self.budget = budget or PromptBudget()
        self._longest_seen: dict[str, tuple[int, int]] = {}
        self.answer_format = provider.config.answer_format
        self.replay_tools = replay_tools  # replay scored higher on them (valid steps)

    def answer_tokens(self, action: Action) -> int:
        """max_tokens of an answer to `action` (from the tool's longest recorded observation)."""
        tokens, chars = self._longest(route_of(action))
        cap = self.provider.config.max_tokens
        if not tokens:
            return cap
        if self.answer_format == "json_schema":
            return json_answer_budget(chars, cap)
        return answer_budget(tokens, cap)

    def _longest(self, route: str) -> tuple[int, int]:
        """(tokens, characters) of the longest observation of a tool, computed once per tool
        from the steps the retriever may return: held-out traces never size an answer."""
        known = self._longest_seen.get(route)
        if known is not None:
            return known
        # The token estimate grows with the length: the longest text has the most.
        text = self.retriever.longest_observation(route)
        longest = self._longest_seen[route] = (estimate_tokens(text), len(text))
        return longest

    def forget(self, session_id: str) -> None:
        """Drop what the replay parts keep of an ended session."""
        self.replay.forget(session_id)
        self._exact.forget(session_id)

    def predict(self, context: PredictionContext) -> Observation:
        planned = self._plan(context)
        if isinstance(planned, Observation):
            return planned
        try:
            completion = self.provider.complete(planned.messages, **planned.options)
        except ProviderError as exc:
            return planned.failed(exc)
        return planned.answered(completion)

    async def apredict(self, context: PredictionContext) -> Observation:
        """`predict` with the provider awaited on the event loop (the server's LLM steps)."""
        planned = self._plan(context)
        if isinstance(planned, Observation):
            return planned
        try:
            completion = await self.provider.acomplete(planned.messages, **planned.options)
        except ProviderError as exc:
            return planned.failed(exc)
        return planned.answered(completion)

    def _plan(self, context: PredictionContext) -> Observation | _Call:
        """The answer when replay gives it, else the call to make."""
        if self.replay_tools and route_of(context.action) in self.replay_tools:
            return self.replay.predict(context)
        if self.cache and self.top_k > 0:  # zero-shot: the corpus answers nothing
            replayed = self._exact.predict(context)
            if replayed.metadata.get("source") in CACHE_SOURCES:
                return replayed
        query = context_query(context)
        examples = self.retriever.neighbours(query, self.top_k) if self.top_k > 0 else []
        max_tokens, limit = fit_window(
            self.answer_tokens(context.action), self.provider.config.context_window
        )
        budget, form = self.budget, self.answer_format
        prompt = render_prompt(
            self.instructions, context.session, context.action, examples, budget, form
        )
        for _ in range(8):  # the instructions and the format are fixed; the rest is cut
            if not limit or prompt.tokens <= limit or budget.total <= MIN_PROMPT_TOKENS:
                break
            budget = _shrunk(budget, prompt.tokens - limit)
            prompt = render_prompt(
                self.instructions, context.session, context.action, examples, budget, form
            )
        window = self.provider.config.context_window
        if window:
            # What is never cut (the instructions, the format, the action) can outgrow the
            # prompt's share of a small window: the answer gets what the prompt leaves of it,
            # and a call with no room for an answer is not made.
            left = window - math.ceil(prompt.tokens / WINDOW_SAFETY)
            max_tokens = min(max_tokens, left)
            if max_tokens < MIN_ANSWER_TOKENS:
                return Observation(
                    content=(
                        f"world model provider error: provider.context_window={window} leaves "
                        f"{max(left, 0)} tokens for an answer after a prompt of about "
                        f"{prompt.tokens} that cannot be cut further; give the server's larger "
                        "window"
                    ),
                    is_error=True,
                    metadata={"source": "provider_error", "prompt_tokens_est": prompt.tokens},
                )
        if form != "json_schema":
            return _Call(prompt, {"max_tokens": max_tokens, "stop": STOP})
        _, longest_chars = self._longest(route_of(context.action))
        observation_max, notes_max = answer_lengths(longest_chars, max_tokens)
        schema = answer_schema(observation_max, notes_max)
        options = {"max_tokens": max_tokens, "response_format": schema}
        return _Call(prompt, options, observation_max)


@dataclass(frozen=True)
class _Call:
    """A provider call an LLM step makes, and how its answer becomes an observation."""

    prompt: RenderedPrompt
    options: dict[str, Any]
    observation_max: int = 0  # a JSON answer's observation is held to this many characters

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.prompt.messages

    def failed(self, exc: ProviderError) -> Observation:
        return Observation(
            content=f"world model provider error: {exc}",
            is_error=True,
            metadata={"source": "provider_error", "prompt_tokens_est": self.prompt.tokens},
        )

    def answered(self, completion: Completion) -> Observation:
        answer = parse_answer(completion.text, "json_schema" if self.observation_max else "tags")
        metadata = {
            "source": "llm" if answer.strict else "llm_unformatted",
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "cost": completion.cost,
            "latency_s": round(completion.latency_s, 4),
            "prompt_tokens_est": self.prompt.tokens,
            "prompt_truncated": self.prompt.truncated,
            "examples": self.prompt.examples,
        }
        if completion.finish_reason:
            metadata["finish_reason"] = completion.finish_reason
        if self.observation_max and len(answer.observation.content) >= self.observation_max:
            metadata["observation_at_limit"] = self.observation_max  # the schema cut it there
        if answer.scratchpad is not None:
            metadata["scratchpad"] = answer.scratchpad
        return answer.observation.model_copy(update={"metadata": metadata})

"""The `llm` predictor: a provider (through litellm) plays the environment, prompted with the
model's environment prompt, the session and retrieved examples. Exact replays answer first when
the cache is on (cheaper, and deterministic); provider failures become error observations.
"""

from __future__ import annotations

from wmh.core.types import Observation
from wmh.engine.llm_prompt import PromptBudget, parse_answer, render_prompt
from wmh.engine.policy import ReplayPolicies, ReplayPolicy
from wmh.engine.predictor import PredictionContext, context_query
from wmh.engine.replay import ReplayPredictor
from wmh.errors import ProviderError
from wmh.providers.llm import LLMProvider
from wmh.retrieval.retriever import Retriever

CACHE_SOURCES = ("session_replay", "corpus_replay")


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

    def predict(self, context: PredictionContext) -> Observation:
        if self.cache and self.top_k > 0:  # zero-shot: the corpus answers nothing
            replayed = self._exact.predict(context)
            if replayed.metadata.get("source") in CACHE_SOURCES:
                return replayed
        query = context_query(context)
        examples = self.retriever.neighbours(query, self.top_k) if self.top_k > 0 else []
        prompt = render_prompt(
            self.instructions, context.session, context.action, examples, self.budget
        )
        try:
            completion = self.provider.complete(prompt.messages)
        except ProviderError as exc:
            return Observation(
                content=f"world model provider error: {exc}",
                is_error=True,
                metadata={"source": "provider_error", "prompt_tokens_est": prompt.tokens},
            )
        answer = parse_answer(completion.text)
        metadata = {
            "source": "llm" if answer.strict else "llm_unformatted",
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "cost": completion.cost,
            "latency_s": round(completion.latency_s, 4),
            "prompt_tokens_est": prompt.tokens,
            "prompt_truncated": prompt.truncated,
            "examples": prompt.examples,
        }
        if answer.scratchpad is not None:
            metadata["scratchpad"] = answer.scratchpad
        return answer.observation.model_copy(update={"metadata": metadata})

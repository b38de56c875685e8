"""What an observation cost, read from its metadata: calls, tokens, money and provider time."""

from __future__ import annotations

from wmh.core.types import Observation
from wmh.engine.usage import observation_usage


def test_an_llm_answer_counts_its_tokens_cost_and_time_and_a_replayed_one_nothing() -> None:
    answered = Observation(
        content="x",
        metadata={"prompt_tokens": 120, "completion_tokens": 30, "cost": 0.002, "latency_s": 0.4},
    )
    usage = observation_usage(answered)
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, 120, 30)
    assert (usage.cost_usd, usage.latency_s) == (0.002, 0.4)
    # One count known is a call still (a server that reports only the prompt's tokens).
    assert observation_usage(Observation(metadata={"prompt_tokens": 5})).calls == 1
    replayed = observation_usage(Observation(content="x", metadata={"source": "corpus_replay"}))
    assert (replayed.calls, replayed.cost_usd) == (0, 0.0)

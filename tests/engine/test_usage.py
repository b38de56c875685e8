"""What an observation cost, read from its metadata: calls, tokens, money and provider time."""

from __future__ import annotations

from pathlib import Path

from wmh.core.types import Observation, UsageTotals
from wmh.engine.usage import add_phase_usage, observation_usage, usage_record
from wmh.store.loader import load_world_model


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
    assert observation_usage(Observation(content="x", metadata={"source": "corpus_replay"})) is None


def test_a_usage_record_adds_up_every_phase_a_session_holds(built_model: Path) -> None:
    """The serve and judge phases are always shown (zero when nothing ran); a phase of the
    caller's own (an agent's calls metered on the session) is shown and counted in the total."""
    wm, _ = load_world_model(built_model)
    session = wm.new_session("t")
    add_phase_usage(session, "agent", UsageTotals(calls=2, input_tokens=30, cost_usd=0.5))
    add_phase_usage(session, "agent", UsageTotals(calls=1, input_tokens=12))
    record = usage_record(session)
    assert set(record.by_phase) == {"serve", "judge", "agent"}
    assert (record.by_phase["agent"].calls, record.by_phase["agent"].input_tokens) == (3, 42)
    assert (record.total.calls, record.total.input_tokens, record.total.cost_usd) == (3, 42, 0.5)
    assert record.by_phase["serve"].calls == record.by_phase["judge"].calls == 0

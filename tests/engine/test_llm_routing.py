"""An LLM model answers a tool only where it beat replay on valid steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.engine.test_llm import llm_overrides
from tests.fake_llm import FakeLLM, echo_environment
from wmh.core.types import Action
from wmh.errors import ConfigError
from wmh.pipeline.build import build_world_model
from wmh.store.loader import load_world_model
from wmh.store.settings import model_settings
from wmh.store.splits import read_part


def test_tools_where_replay_scores_higher_on_valid_steps_are_left_to_replay(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    # The scripted server echoes the arguments back: better than the recordings on some tools
    # (with the replay cache answering repeats), worse on others.
    fake_llm.default = echo_environment
    settings = make_settings(
        tmp_path, "routed", [synthetic_corpus],
        *llm_overrides(fake_llm, "predictor.route=per_tool", "predictor.route_traces=4"),
    )  # fmt: skip
    result = build_world_model(settings)
    answering = result.answering
    assert answering is not None and answering.predictor == "llm"
    measured = answering.valid
    to_replay = sorted(tool for tool, (llm, replay, _) in measured.items() if replay > llm)
    to_llm = sorted(set(measured) - set(to_replay))
    assert to_replay and to_llm  # both outcomes occur on this corpus
    assert list(answering.replay_tools) == to_replay
    card = json.loads((result.path / "model.json").read_text())
    assert card["replay_tools"] == to_replay
    assert f"the LLM answers {len(to_llm)} of {len(measured)} tools" in answering.summary()
    first = to_replay[0]  # replay's score, then the LLM's: the higher first
    said = f"{first} ({measured[first][1]:.2f} > {measured[first][0]:.2f})"
    assert f"; replay answers {said}" in answering.summary()
    # Measuring the LLM on valid steps is metered apart from the held-out steps: together they
    # are every request the server saw but the one that checked it answers.
    assert answering.report is not None and result.heldout is not None
    routed, heldout = answering.report.usage["calls"], result.heldout.usage["calls"]
    assert routed > 0 and routed + heldout == len(fake_llm.requests) - 1
    assert f"(measuring them: {routed} calls," in answering.summary()
    # Measured on the first four valid traces (by id), not on every valid trace.
    valid = sorted(t.trace_id for t in read_part(result.path, "valid"))
    report = answering.report
    assert len(valid) > 4 and report.traces == 4
    assert {r.trace_id for r in report.steps} == set(valid[:4])
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["answering"]["usage"]["calls"] == routed
    # On held-out steps, the tools left to replay score exactly what replay scores.
    assert result.heldout is not None
    for tool in to_replay:
        figures = result.heldout.per_tool[tool]
        assert figures.score == figures.baselines["replay"]

    wm, _ = load_world_model(result.path)
    action = Action(name=to_replay[0], arguments={"user_id": 987654321, "order_id": "never-seen"})
    for tool, asks in ((to_replay[0], 0), (to_llm[0], 1)):
        before = len(fake_llm.requests)
        observation = wm.step(wm.new_session(task="t").id, action.model_copy(update={"name": tool}))
        assert len(fake_llm.requests) - before == asks, tool
        assert (observation.metadata["source"] == "llm") == bool(asks)
    # Evaluating with predictor.route=llm (or another prompt, top_k or model) asks the LLM.
    every = model_settings(result.path)
    every.predictor.route = "llm"
    wm, _ = load_world_model(result.path, settings=every)
    before = len(fake_llm.requests)
    wm.step(wm.new_session(task="t").id, action)
    assert len(fake_llm.requests) - before == 1
    # Another model was never measured against replay: it answers every tool too.
    other = model_settings(result.path)
    other.provider.model = "openai/another-model"
    wm, _ = load_world_model(result.path, settings=other)
    before = len(fake_llm.requests)
    wm.step(wm.new_session(task="t").id, action)
    assert [r["model"] for r in fake_llm.requests[before:]] == ["another-model"]


def test_the_valid_traces_measured_are_hidden_from_both_answers(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the LLM and replay are measured on valid traces, neither can look those traces up
    (the LLM's examples and replay cache, replay's neighbours and exact replays)."""
    import wmh.pipeline.answering as answering_module

    fake_llm.default = echo_environment
    seen: list[tuple[frozenset[str], frozenset[str]]] = []
    made = answering_module.make_predictor

    def watched(settings, retriever, replay, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((retriever.hidden, replay.retriever.hidden))
        return made(settings, retriever, replay, *args, **kwargs)

    monkeypatch.setattr(answering_module, "make_predictor", watched)
    settings = make_settings(
        tmp_path, "hidden", [synthetic_corpus],
        *llm_overrides(fake_llm, "predictor.route=per_tool", "predictor.route_traces=4"),
    )  # fmt: skip
    result = build_world_model(settings)
    measured = {
        t.trace_id for t in sorted(read_part(result.path, "valid"), key=lambda t: t.trace_id)[:4]
    }
    assert len(seen) == 2  # measuring, then the model itself
    llm_hidden, replay_hidden = seen[0]
    assert measured <= llm_hidden and measured <= replay_hidden
    assert not measured & seen[1][0]  # the published model hides nothing of its own


def test_route_traces_below_one_is_refused(tmp_path: Path, synthetic_corpus: Path) -> None:
    settings = make_settings(tmp_path, "x", [synthetic_corpus], "predictor.route_traces=0")
    with pytest.raises(ConfigError, match="predictor.route_traces must be at least 1"):
        build_world_model(settings)


def test_route_llm_answers_every_tool(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = echo_environment
    settings = make_settings(
        tmp_path, "all", [synthetic_corpus], *llm_overrides(fake_llm, "predictor.route=llm")
    )
    result = build_world_model(settings)
    assert result.answering is not None and result.answering.replay_tools == ()
    # Said for what it is: it said "no valid steps to compare it with replay".
    assert result.answering.summary() == "the LLM answers every tool (predictor.route=llm)"
    assert json.loads((result.path / "model.json").read_text())["replay_tools"] == []
    assert result.heldout is not None
    assert result.heldout.overall.score < result.heldout.overall.baselines["replay"]
    assert any("below replay" in w for w in result.warnings())


def test_the_routing_summary_counts_the_calls_that_failed() -> None:
    """'measuring them: 40 calls' counted the answered calls alone: the failed ones, which
    scored against the LLM, went unsaid."""
    from types import SimpleNamespace

    from wmh.pipeline.answering import Answering

    usage = {"calls": 40, "prompt_tokens": 900, "completion_tokens": 50, "cost": 0.0}
    report = SimpleNamespace(usage={**usage, "failures": 3})
    answering = Answering("llm", (), {"get_user": (0.6, 0.5, 43)}, report)  # type: ignore[arg-type]
    assert "(measuring them: 43 calls, 3 of them unanswered, 900 + 50 tokens" in answering.summary()
    answering = Answering("llm", (), {"get_user": (0.6, 0.5, 40)}, SimpleNamespace(usage=usage))  # type: ignore[arg-type]
    assert "(measuring them: 40 calls, 900 + 50 tokens" in answering.summary()

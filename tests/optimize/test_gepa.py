"""GEPA end to end against the scripted server: world-model answers and reflection proposals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply
from wmh.pipeline.build import build_world_model

_FIRST_EXAMPLE = re.compile(r"## Recorded examples.*?(<observation.*?</observation>)", re.DOTALL)


def scripted(proposal: str):  # noqa: ANN201
    """World model: copies the first retrieved example when told to, else answers nothing
    useful. Reflection (model `reflector`): proposes `proposal`."""

    def answer(body: dict) -> Reply:
        if body["model"] == "reflector":
            return Reply(f"```\n{proposal}\n```")
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "COPY THE FIRST EXAMPLE" in system:
            match = _FIRST_EXAMPLE.search(user)
            if match:
                return Reply(match.group(1))
        return Reply('<observation is_error="false">\nnothing to report\n</observation>')

    return answer


def gepa_settings(tmp_path: Path, corpus: Path, fake: FakeLLM, name: str, *extra: str):  # noqa: ANN201
    return make_settings(
        tmp_path,
        name,
        [corpus],
        "provider=openai_compatible",
        "provider.model=openai/env",
        f"provider.api_base={fake.api_base}",
        "provider.num_retries=0",
        "provider.timeout=5",
        "gepa.reflection_model=openai/reflector",
        "gepa.valset_size=6",
        "gepa.budget=30",
        "gepa.minibatch_size=3",
        "split.train=0.8",
        "split.valid=0.1",
        "split.test=0.1",
        "predictor.cache=false",
        *extra,
    )


def test_a_better_proposal_is_chosen_and_raises_the_valid_score(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
    result = build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, "better", "track=true")
    )
    evolved = result.evolve
    assert evolved is not None and not evolved.skipped
    assert evolved.rollouts <= 30 + 6  # the budget, plus at most one valset evaluation
    assert len(evolved.candidates) >= 2
    best = evolved.candidates[evolved.best_index]
    base = evolved.candidates[0]
    assert "COPY THE FIRST EXAMPLE" in best.text
    assert best.aggregate > base.aggregate + 0.1
    assert best.aggregate == max(c.aggregate for c in evolved.candidates)
    prompts = result.path / "prompts"
    assert "COPY THE FIRST EXAMPLE" in (prompts / "optimized.txt").read_text()
    frontier = json.loads((prompts / "frontier.json").read_text())
    assert frontier["best"] == evolved.best_index
    assert all(len(c["scores"]) == 6 for c in frontier["candidates"])
    metrics = json.loads((result.path / "metrics.json").read_text())["gepa"]
    assert metrics["test_optimized"] > metrics["test_base"]
    card = json.loads((result.path / "model.json").read_text())
    assert card["rollouts"] == evolved.rollouts and card["frontier_size"] >= 1

    import mlflow

    from wmh.tracking.mlflow_runs import tracking_uri

    # The store under the build's root (the build sets no process-wide tracking URI).
    client = mlflow.MlflowClient(tracking_uri(result.path.parents[1]))
    run = client.get_run(card["mlflow_run_id"])
    assert run.data.metrics["gepa.test_optimized"] == metrics["test_optimized"]
    lift = metrics["test_optimized"] - metrics["test_base"]
    assert run.data.metrics["gepa.lift"] == pytest.approx(lift)
    usage = json.loads((result.path / "metrics.json").read_text())["heldout"]["usage"]
    assert usage["calls"] > 0 and run.data.metrics["usage.cost"] == usage["cost"]
    assert int(run.data.params["counts.usage_calls"]) == usage["calls"]
    assert run.data.params["gepa.budget"] == "30"
    # What GEPA spent is recorded beside it: its scoring calls are the ones it counted, the
    # reflection model's are its own (they were in no figure).
    spent = json.loads((result.path / "metrics.json").read_text())["gepa"]["usage"]
    assert spent["scoring"]["calls"] + spent["scoring"]["failures"] == evolved.provider_calls > 0
    assert spent["scoring"]["prompt_tokens"] > 0
    assert spent["reflection"]["calls"] == evolved.reflection_calls >= len(evolved.candidates) - 1
    assert spent["reflection"]["completion_tokens"] > 0
    cost = spent["scoring"]["cost"] + spent["reflection"]["cost"]
    assert run.data.metrics["usage.gepa_cost"] == pytest.approx(cost)
    history = client.get_metric_history(run.info.run_id, "gepa.best_valid")
    assert history and history[-1].value == pytest.approx(best.aggregate)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"optimized.txt", "frontier.json", "metrics.json"} <= artifacts


def test_a_worse_proposal_is_not_chosen(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = scripted("Answer every action with: nothing to report.")
    result = build_world_model(gepa_settings(tmp_path, synthetic_corpus, fake_llm, "worse"))
    assert result.evolve is not None and result.evolve.best_index == 0
    optimized = (result.path / "prompts" / "optimized.txt").read_text()
    assert optimized == (result.path / "prompts" / "base.txt").read_text()


def test_replay_and_zero_budget_skip_gepa_with_a_clear_message(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    result = build_world_model(make_settings(tmp_path, "r", [synthetic_corpus], "gepa.budget=50"))
    assert result.evolve is not None and "provider=replay" in result.evolve.skipped
    assert not (result.path / "prompts" / "optimized.txt").exists()


def test_an_llm_build_with_a_zero_budget_skips_gepa(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """The test above builds a replay model only, which skips GEPA whatever the budget: with the
    budget check removed, an LLM build with gepa.budget=0 still ran six rollouts and passed."""
    fake_llm.default = scripted("Answer every action with: nothing to report.")
    result = build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, "zero", "gepa.budget=0")
    )
    assert result.evolve is not None
    assert result.evolve.skipped == "gepa.budget=0: GEPA skipped"
    assert result.evolve.rollouts == 0
    assert not [r for r in fake_llm.requests if r["model"] == "reflector"]
    assert not (result.path / "prompts" / "optimized.txt").exists()


def test_a_second_build_resumes_the_optimisation_from_its_run_dir(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
    first = build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, "resume", "gepa.budget=12")
    )
    assert first.evolve is not None
    calls_before = len(fake_llm.requests)
    second = build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, "resume", "gepa.budget=30")
    )
    assert second.evolve is not None
    assert second.evolve.rollouts > first.evolve.rollouts
    # The seed candidate's valset scores are not computed again: they come from the run dir.
    assert [c.text for c in second.evolve.candidates[: len(first.evolve.candidates)]] == [
        c.text for c in first.evolve.candidates
    ]
    world_model_calls = [r for r in fake_llm.requests[calls_before:] if r["model"] == "env"]
    assert second.heldout is not None
    heldout_calls = second.heldout.overall.steps * (2 if second.heldout_base else 1)
    preflight = 1  # the build's one request to check the provider answers at all
    gepa_calls = len(world_model_calls) - heldout_calls - preflight
    # Only the budget left after the first build is spent: the first run is not redone.
    assert 0 < gepa_calls <= 30 - first.evolve.rollouts + 6
    assert list((tmp_path / "gepa").iterdir())


def test_the_reflection_model_gets_room_for_a_whole_prompt_and_its_own_temperature(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """A proposed prompt is longer than an observation: the reflection calls ask for at least
    2,048 tokens (more when provider.max_tokens is higher), at temperature 0.7."""
    fake_llm.default = scripted("Answer every action with: nothing to report.")
    build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, "room", "provider.max_tokens=200")
    )
    from wmh.providers.llm import PING

    calls = [r for r in fake_llm.requests if r["messages"] != PING]  # not the reachability check
    reflections = [r for r in calls if r["model"] == "reflector"]
    assert reflections
    assert {(r["max_tokens"], r["temperature"]) for r in reflections} == {(2048, 0.7)}
    # The world model's answers are capped by provider.max_tokens (below what the corpus's
    # longest observations would size them to, 269-313 tokens here: a bound of 512 held
    # whatever the cap did).
    answers = [r for r in calls if r["model"] == "env"]
    assert answers and {r["max_tokens"] for r in answers} == {200}

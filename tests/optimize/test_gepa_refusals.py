"""GEPA settings, state and failures: what a build refuses, says, and does not resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_llm import FakeLLM, Reply, echo_environment
from tests.optimize.test_gepa import gepa_settings
from wmh.errors import ConfigError, ProviderError
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model


def test_a_reflection_model_failing_every_call_is_not_a_silent_success(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """Every reflection call after the build's one preflight request fails (HTTP 500): GEPA
    proposes nothing, yet the build published with `1 candidates` and no word of the failures
    (GEPA's exceptions are swallowed by raise_on_exception=False and the reflection provider's
    failures are not counted in provider_failures)."""
    seen = {"reflector": 0}

    def answer(body: dict) -> Reply:
        if body["model"] == "reflector":
            seen["reflector"] += 1
            return Reply("ok") if seen["reflector"] == 1 else Reply(status=500)
        return echo_environment(body)

    fake_llm.default = answer
    settings = gepa_settings(tmp_path, synthetic_corpus, fake_llm, "reflfail")
    with pytest.raises(
        ProviderError,
        match=r"all \d+ GEPA reflection calls \(gepa.reflection_model: openai/reflector\) failed",
    ):
        build_world_model(settings)
    assert seen["reflector"] > 2  # GEPA did try to reflect, more than once
    assert not (tmp_path / "models" / "reflfail").exists()


def test_gepa_state_is_not_resumed_across_different_trace_contents(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    """The GEPA run dir was keyed on the *names* of the trace files (build.py gepa_run_dir), not
    their contents: a rebuild after the file was replaced with another corpus resumed the old
    state, spent no GEPA call and published the old corpus's candidate scores. Rebuilt so, it
    makes the calls a first build of the new traces makes."""
    fake_llm.default = echo_environment
    corpus = tmp_path / "traces.jsonl"
    write_corpus(corpus, traces=60, seed=1)
    first = build_world_model(gepa_settings(tmp_path, corpus, fake_llm, "stale", "gepa.budget=12"))
    assert first.evolve is not None and first.evolve.rollouts >= 6
    write_corpus(corpus, traces=60, seed=99)  # other traces, other steps, same path
    before = len(fake_llm.requests)
    build_world_model(gepa_settings(tmp_path, corpus, fake_llm, "stale", "gepa.budget=12"))
    rebuilt = len(fake_llm.requests) - before
    before = len(fake_llm.requests)
    fresh = gepa_settings(tmp_path / "fresh", corpus, fake_llm, "stale", "gepa.budget=12")
    build_world_model(fresh)
    assert rebuilt == len(fake_llm.requests) - before


def test_a_misspelt_candidate_selection_is_one_clear_error_before_the_build_works(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """gepa.candidate_selection=paretoo raised gepa's own ValueError (a traceback at the CLI)
    after ingest, index and fit had run."""
    fake_llm.default = echo_environment
    misspelt = "gepa.candidate_selection=paretoo"
    settings = gepa_settings(tmp_path, synthetic_corpus, fake_llm, "cs", misspelt)
    with pytest.raises(ConfigError, match="gepa.candidate_selection"):
        build_world_model(settings)
    assert not (tmp_path / "models" / "cs").exists()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("gepa.valset_size=0", "gepa.valset_size"),
        ("gepa.valset_size=-1", "gepa.valset_size"),
        ("gepa.minibatch_size=0", "gepa.minibatch_size"),
        ("gepa.minibatch_size=-2", "gepa.minibatch_size"),
    ],
)
def test_gepa_sizes_below_one_are_refused_naming_the_key(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, override: str, key: str
) -> None:
    """valset_size=0 was blamed on split.valid; valset_size=-1 scored all valid steps but one
    (a Python slice); minibatch sizes 0 and -2 were taken silently."""
    fake_llm.default = echo_environment
    settings = gepa_settings(tmp_path, synthetic_corpus, fake_llm, "sizes", override)
    with pytest.raises(ConfigError, match=key):
        build_world_model(settings)


@pytest.mark.parametrize(("budget", "said"), [(1, True), (6, True), (8, False)])
def test_a_budget_too_small_for_one_iteration_says_so(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, budget: int, said: bool
) -> None:
    """A budget that scoring the seed prompt on the 6 valset steps uses up: GEPA stops, having
    proposed nothing, and the build said only '6 rollouts, 1 candidates'. A budget past it pays
    for an iteration, and nothing is said (it was, for budgets below valset + minibatch)."""
    fake_llm.default = echo_environment
    result = build_world_model(
        gepa_settings(tmp_path, synthetic_corpus, fake_llm, f"b{budget}", f"gepa.budget={budget}")
    )
    assert result.evolve is not None
    assert (result.evolve.reflection_calls == 0) is said
    noted = [w for w in result.warnings() if "GEPA proposed no prompt" in w]
    assert bool(noted) is said
    if said:
        assert f"gepa.budget={budget} metric calls" in noted[0] and "above 6" in noted[0]


def test_one_failed_reflection_call_is_said_not_refused(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """Reflection calls are few (about one an iteration): one transient failure among them
    refused a whole paid GEPA run (1 of 7 is past provider.max_error_share=0.1). It is said."""
    seen = {"reflector": 0}

    def answer(body: dict) -> Reply:
        if body["model"] == "reflector":
            seen["reflector"] += 1
            return Reply(status=500) if seen["reflector"] == 2 else Reply("ok")
        return echo_environment(body)

    fake_llm.default = answer
    result = build_world_model(gepa_settings(tmp_path, synthetic_corpus, fake_llm, "onefail"))
    assert result.evolve is not None and result.evolve.reflection_failures == 1
    assert result.evolve.reflection_calls >= 3
    assert any("1 of" in w and "reflection calls failed" in w for w in result.warnings())


def test_frontier_json_is_from_this_corpus(tmp_path: Path, fake_llm: FakeLLM) -> None:
    """The published frontier.json after a rebuild on replaced traces: its per-instance scores
    must differ from the first corpus's (they were byte-identical: the old state)."""
    fake_llm.default = echo_environment
    corpus = tmp_path / "traces.jsonl"
    write_corpus(corpus, traces=60, seed=1)
    first = build_world_model(gepa_settings(tmp_path, corpus, fake_llm, "fr", "gepa.budget=12"))
    old = json.loads((first.path / "prompts" / "frontier.json").read_text())
    write_corpus(corpus, traces=80, seed=42)
    second = build_world_model(gepa_settings(tmp_path, corpus, fake_llm, "fr", "gepa.budget=12"))
    new = json.loads((second.path / "prompts" / "frontier.json").read_text())
    assert new["candidates"][0]["scores"] != old["candidates"][0]["scores"]


def test_gepa_state_is_not_resumed_across_another_index(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """The examples in each prompt come from the index: a rebuild with another embedder resumed
    the first build's GEPA run (its candidate scores were measured on the other index)."""
    fake_llm.default = echo_environment
    build_world_model(gepa_settings(tmp_path, synthetic_corpus, fake_llm, "emb", "gepa.budget=12"))
    before = len(fake_llm.requests)
    other = ("gepa.budget=12", "embedder.dim=64")
    build_world_model(gepa_settings(tmp_path, synthetic_corpus, fake_llm, "emb", *other))
    rebuilt = len(fake_llm.requests) - before
    before = len(fake_llm.requests)
    build_world_model(gepa_settings(tmp_path / "fresh", synthetic_corpus, fake_llm, "emb", *other))
    assert rebuilt == len(fake_llm.requests) - before

"""A build whose provider fails never publishes: the previous model stays, the build exits
non-zero in bounded time, and says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply, echo_environment
from wmh.errors import ProviderError
from wmh.optimize.evolve import EvolveResult
from wmh.pipeline.build import build_world_model
from wmh.pipeline.checks import check_gepa_errors, check_provider_errors, check_providers_answer
from wmh.scoring.runner import EvalReport, Fidelity, LoopMode

WMH = str(Path(sys.executable).parent / "wmh")
CANARY = "sk-canary-4f0e19d2c7"


def _llm_overrides(fake: FakeLLM, *extra: str) -> list[str]:
    return [
        "provider=openai_compatible",
        "provider.model=openai/env-model",
        f"provider.api_base={fake.api_base}",
        "provider.timeout=2",
        *extra,
    ]


def _llm_args(fake: FakeLLM, *extra: str) -> list[str]:
    return [arg for o in _llm_overrides(fake, *extra) for arg in ("-o", o)]


@pytest.fixture
def good(tmp_path: Path, synthetic_corpus: Path) -> Path:
    """A published replay model named `m`, the one a failed build must leave in place."""
    result = build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    return result.path / "model.json"


def _build(tmp_path: Path, corpus: Path, fake: FakeLLM, *extra: str) -> tuple[int, str]:
    """`wmh build` with a canary key, which the scripted server repeats in its error answers."""
    done = subprocess.run(
        [WMH, "build", "--name", "m", "--file", str(corpus), "--root", str(tmp_path),
         "--no-interactive", "-o", "track=false", *_llm_args(fake, *extra)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OPENAI_API_KEY": CANARY},
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())  # the CLI wraps lines to the terminal
    assert CANARY not in done.stdout + done.stderr
    return done.returncode, said


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply("slow down", status=429), "RateLimitError"),
        (Reply("no key", status=401), "AuthenticationError"),
        (Reply("boom", status=503), "503"),
        (Reply("late", delay_s=5), "Timeout"),
    ],
    ids=["429", "401", "5xx", "hangs"],
)
def test_a_provider_failing_every_call_leaves_the_old_model_and_exits_non_zero(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, good: Path, reply: Reply, words: str
) -> None:
    before = good.read_bytes()
    fake_llm.default = reply
    code, output = _build(tmp_path, synthetic_corpus, fake_llm)
    assert code == 1 and "nothing was built and the previous model stays" in output
    assert words.lower() in output.lower()
    assert good.read_bytes() == before  # the good model is the one still published
    assert fake_llm.api_keys == [CANARY]  # one check, no retries (so no hours of them)


def test_a_provider_failing_mid_build_is_not_published(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM, good: Path
) -> None:
    before = good.read_bytes()
    fake_llm.script = [Reply("OK")]  # the check before the build passes, then every call fails
    fake_llm.default = Reply("down", status=500)
    code, output = _build(
        tmp_path, synthetic_corpus, fake_llm, "provider.num_retries=0", "predictor.cache=false"
    )
    assert code == 1 and "measured steps (valid and held-out) failed at the provider" in output
    assert "more than provider.max_error_share=0.1" in output
    assert good.read_bytes() == before


def test_the_builds_provider_time_is_bounded(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    settings = make_settings(
        tmp_path,
        "slow",
        [synthetic_corpus],
        *_llm_overrides(fake_llm, "provider.build_time_s=0.5", "predictor.cache=false"),
    )
    fake_llm.script = [Reply("OK")]  # the check answers at once
    fake_llm.default = Reply('<observation is_error="false">\n{}\n</observation>', delay_s=0.3)
    with pytest.raises(ProviderError, match="build_time_s=0.5"):
        build_world_model(settings)
    # past the budget no call goes out: the check, and the few that fit in half a second
    assert len(fake_llm.requests) <= 1 + 0.5 / 0.3 + 1
    assert not (tmp_path / "models" / "slow").exists()


def test_a_healthy_llm_build_still_publishes(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = echo_environment
    code, output = _build(tmp_path, synthetic_corpus, fake_llm)
    assert code == 0, output
    card = json.loads((tmp_path / "models" / "m" / "model.json").read_text())
    assert card["predictor"] == "llm"
    assert "warning" not in output  # the echoing LLM is not below the copies


def test_an_llm_model_below_the_copy_is_published_with_a_warning(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    # Answers in the format, but never what the environment said.
    fake_llm.default = Reply('<observation is_error="false">\nnothing\n</observation>')
    code, output = _build(
        tmp_path, synthetic_corpus, fake_llm, "predictor.cache=false", "predictor.route=llm"
    )
    assert code == 0, output
    metrics = json.loads((tmp_path / "models" / "m" / "metrics.json").read_text())["heldout"]
    score = metrics["overall"]["score"]
    copy, best = max(metrics["overall"]["baselines"].items(), key=lambda item: item[1])
    assert score < best
    assert (
        f"warning: the LLM model scores {score:.3f} on held-out steps, below {copy} "
        f"({best:.3f}), which answers them better without an LLM"
    ) in output


def _measured(steps: int, failed: int) -> EvalReport:
    return EvalReport(
        model="m", mode=LoopMode.OPEN, judge="structural", sample_turns="all", seed=0,
        traces=1, overall=Fidelity(steps=steps), sources={"provider_error": failed},
    )  # fmt: skip


def test_a_build_is_refused_only_past_its_share_of_provider_failures(tmp_path: Path) -> None:
    """provider.max_error_share=0.1 allows one failed step in ten, counted over every measured
    report: the valid steps that chose the tools' answerers, then the held-out ones."""
    settings = make_settings(tmp_path, "m", [])
    check_provider_errors(settings, [_measured(10, 1), None, _measured(10, 1)])
    with pytest.raises(ProviderError, match=r"3 of 20 measured steps .* failed at the provider"):
        check_provider_errors(settings, [_measured(10, 2), _measured(10, 1), None])
    with pytest.raises(ProviderError, match=r"2 of 10 measured steps"):
        check_provider_errors(settings, [_measured(5, 2), None, _measured(5, 0)])


def test_a_gepa_run_is_refused_only_past_its_share_of_failures() -> None:
    """One failed scoring call in ten is allowed (provider.max_error_share=0.1), two are not;
    reflection calls are refused only when every one failed."""
    settings = make_settings(Path("unused"), "m", [])
    check_gepa_errors(settings, EvolveResult(provider_calls=10, provider_failures=1))
    with pytest.raises(ProviderError, match="2 of 10 GEPA calls failed at the provider"):
        check_gepa_errors(settings, EvolveResult(provider_calls=10, provider_failures=2))
    check_gepa_errors(settings, EvolveResult(reflection_calls=5, reflection_failures=4))
    with pytest.raises(ProviderError, match="all 5 GEPA reflection calls"):
        check_gepa_errors(settings, EvolveResult(reflection_calls=5, reflection_failures=5))


def test_the_reflection_model_is_checked_only_when_gepa_runs(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    """A build with gepa.budget=0 never calls the reflection model: one that does not answer
    does not stop it. With a budget, it stops the build before any work."""
    fake_llm.default = lambda body: (
        Reply(status=500) if body["model"] == "reflector" else Reply("OK")
    )
    reflect = ("gepa.reflection_model=openai/reflector", "provider.num_retries=0")
    skipped = make_settings(tmp_path, "m", [], *_llm_overrides(fake_llm, *reflect, "gepa.budget=0"))
    check_providers_answer(skipped)
    running = make_settings(tmp_path, "m", [], *_llm_overrides(fake_llm, *reflect, "gepa.budget=6"))
    with pytest.raises(ProviderError, match="nothing was built and the previous model stays"):
        check_providers_answer(running)
    assert [r["model"] for r in fake_llm.requests] == ["env-model", "env-model", "reflector"]

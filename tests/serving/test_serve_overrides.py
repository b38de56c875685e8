"""`wmh serve` and `wmh mcp` take `-o provider.*`, `predictor.*` and `retrieval.*` for the models
they serve, as `wmh play` does: they were taken and ignored (the model answered from the build's
endpoint, with the build's cache), and a model built with an LLM provider judged episodes only
with a provider given again."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.engine.test_llm import llm_overrides
from tests.fake_llm import FakeLLM, echo_environment
from tests.serving.servers import Server
from wmh.config.schema import ServeConfig
from wmh.errors import ConfigError
from wmh.pipeline.build import build_world_model
from wmh.serving.app import create_app
from wmh.serving.registry import load_registry, served_model
from wmh.serving.settings import server_settings


@pytest.fixture
def llm_root(tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM) -> Path:
    fake_llm.default = echo_environment
    overrides = llm_overrides(fake_llm, "predictor.route=llm")
    build_world_model(make_settings(tmp_path, "llm", [synthetic_corpus], *overrides))
    return tmp_path


def _recorded_action(root: Path) -> dict:
    from wmh.store.loader import load_world_model

    wm, _ = load_world_model(root / "models" / "llm")
    return wm.retriever.table.step(0).action.model_dump(mode="json")


def test_serve_steps_the_model_as_its_overrides_change_it(
    llm_root: Path, fake_llm: FakeLLM
) -> None:
    """A recorded call is answered from its recording (the replay cache); with
    `-o predictor.cache=false` the provider is asked, through `wmh serve` as a user starts it."""
    action = _recorded_action(llm_root)
    for args, asked, source in (
        ((), 0, "corpus_replay"),
        (("-o", "predictor.cache=false"), 1, "llm"),
    ):
        server = Server(llm_root, *args)
        try:
            before = len(fake_llm.requests)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                sid = client.post("/world_models/llm/sessions", json={}).json()["session_id"]
                step = client.post(f"/world_models/llm/sessions/{sid}/step", json=action)
            answered = step.json()["observation"]["metadata"]["source"]
            assert (len(fake_llm.requests) - before, answered.startswith(source)) == (
                asked,
                True,
            ), (args, answered)
        finally:
            server.stop()


def test_an_endpoint_given_when_serving_is_the_one_called(llm_root: Path) -> None:
    """`-o provider.api_base` reaches the model (a closed port: a provider error), and its LLM
    reward judge calls the model's provider without `provider=` given again."""
    action = {**_recorded_action(llm_root), "arguments": {"user_id": 10**9}}
    server = server_settings(["provider.api_base=http://127.0.0.1:1/v1", "predictor.cache=false"])
    registry = load_registry(llm_root, [], ServeConfig(), server=server)
    with TestClient(create_app(registry), raise_server_exceptions=False) as client:
        sid = client.post("/world_models/llm/sessions", json={}).json()["session_id"]
        step = client.post(f"/world_models/llm/sessions/{sid}/step", json=action)
    assert "127.0.0.1:1" in step.text, step.text
    _, judge = served_model(llm_root / "models" / "llm", server_settings(["reward=rubric"]), None)
    assert judge is not None  # it was "reward=rubric needs an LLM: set provider=..."


def test_settings_a_server_would_not_use_are_refused(llm_root: Path, built_model: Path) -> None:
    with pytest.raises(ConfigError, match="'split.train=0.5': split.train is fixed when a model"):
        server_settings(["split.train=0.5"])
    replay_root = built_model.parents[1]
    given = server_settings(["provider.api_base=http://127.0.0.1:9/v1"])
    with pytest.raises(ConfigError, match="is a replay model, which calls no provider"):
        load_registry(replay_root, [], ServeConfig(), server=given)
    with pytest.raises(ConfigError, match="'predictor.cache=false': model 'records' is a replay"):
        load_registry(
            replay_root, [], ServeConfig(), server=server_settings(["predictor.cache=false"])
        )


def test_a_store_of_llm_and_replay_models_takes_the_llm_models_overrides(
    llm_root: Path, built_model: Path, fake_llm: FakeLLM
) -> None:
    """Beside an LLM model, `-o predictor.*` and `-o retrieval.top_k` are that model's: a replay
    model in the same store is served as built (the store was refused for the replay model's
    sake), and the LLM model takes them."""
    import shutil

    shutil.copytree(built_model, llm_root / "models" / "records")
    action = _recorded_action(llm_root)
    server = server_settings(["predictor.cache=false", "retrieval.top_k=3"])
    registry = load_registry(llm_root, [], ServeConfig(), server=server)
    before = len(fake_llm.requests)
    with TestClient(create_app(registry)) as client:
        answered = {}
        for name in ("llm", "records"):
            sid = client.post(f"/world_models/{name}/sessions", json={}).json()["session_id"]
            step = client.post(f"/world_models/{name}/sessions/{sid}/step", json=action)
            answered[name] = step.json()["observation"]["metadata"]["source"]
    assert (answered, len(fake_llm.requests) - before) == (
        {"llm": "llm", "records": "corpus_replay"},
        1,
    )
    assert registry.get("llm").predictor.top_k == 3  # type: ignore[attr-defined]
    assert registry.get("records").predictor.top_k == 5  # type: ignore[attr-defined]


def test_a_key_fixed_at_build_is_refused_naming_what_a_server_takes() -> None:
    with pytest.raises(ConfigError) as refused:
        server_settings(["retrieval.index=flat"])
    assert str(refused.value) == (
        "'retrieval.index=flat': retrieval.index is fixed when a model is built; a server takes "
        "serve.*, reward, provider.*, predictor.* and retrieval.top_k (rebuild to change the "
        "rest)"
    )


@pytest.mark.parametrize(
    ("override", "said"),
    [
        # The whole group passed the check by its name, and its index settings were ignored.
        ("retrieval={index:flat,flat_max:1}", "(set retrieval.top_k alone)"),
        # A setting of wmh eval or wmh study is not said to be fixed by a build.
        ("judge=rubric", "judge is not a server's setting; a server takes serve.*"),
        ("track=false", "track is not a server's setting"),
        ("study.seeds=2", "study.seeds is not a server's setting"),
    ],
)
def test_a_server_refuses_what_it_would_not_use_saying_why(override: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        server_settings([override])
    assert said in str(refused.value)


def test_a_judge_of_its_own_endpoint_leaves_the_llm_models_provider_as_built(
    llm_root: Path, built_model: Path, fake_llm: FakeLLM
) -> None:
    """In a store of LLM and replay models, the replay model's rubric judge needed
    `provider.*`, which re-pointed the LLM model too: `reward.api_base` (with `reward.model`)
    reaches the judge alone, for every model, and the LLM model still calls its own provider."""
    import json
    import shutil

    from tests.fake_llm import FakeLLMServer, Reply

    shutil.copytree(built_model, llm_root / "models" / "records")
    action = {**_recorded_action(llm_root), "arguments": {"user_id": 10**9}}
    verdict = Reply(json.dumps({"steps": [1], "episode": 0.75, "critique": "ok"}))
    with FakeLLMServer() as grader:
        grader.default = verdict
        server = server_settings(
            [
                "reward=rubric",
                "reward.model=openai/grader",
                f"reward.api_base={grader.api_base}",
                "predictor.cache=false",
            ]
        )
        registry = load_registry(llm_root, [], ServeConfig(), server=server)
        before = len(fake_llm.requests)
        with TestClient(create_app(registry)) as client:
            scores = {}
            for name in ("llm", "records"):
                base = f"/world_models/{name}/sessions"
                sid = client.post(base, json={}).json()["session_id"]
                assert client.post(f"{base}/{sid}/step", json=action).status_code == 200
                scores[name] = client.post(f"{base}/{sid}/score").json()
    # The LLM model's step went to its own provider; both judges to the grader, by its model.
    assert len(fake_llm.requests) - before == 1
    assert [r["model"] for r in grader.requests] == ["grader", "grader"]
    assert {name: s["reward"] for name, s in scores.items()} == {"llm": 0.75, "records": 0.75}


def test_a_judge_endpoint_needs_its_model_and_no_credentials_in_it(built_model: Path) -> None:
    root = built_model.parents[1]
    for given, said in (
        (["reward=rubric", "reward.api_base=http://127.0.0.1:9/v1"], "needs reward.model"),
        (
            ["reward=rubric", "reward.model=openai/g", "reward.api_base=http://u:secret@h/v1"],
            "reward.api_base carries credentials",
        ),
        # Where no judge would call it: refused, not ignored (credentials or not).
        (["reward=none", "reward.api_base=http://u:secret@h/v1"], "carries credentials"),
        (["reward=success", "reward.api_base=http://127.0.0.1:9/v1"], "reward=success calls none"),
    ):
        server = server_settings(given)
        with pytest.raises(ConfigError, match=said) as caught:
            load_registry(root, [], ServeConfig(), server=server)
        assert "secret" not in str(caught.value)

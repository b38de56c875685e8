"""embedder=litellm against the scripted OpenAI-compatible server: batched, each distinct text
sent once, the card enough to query again, checked by `wmh providers verify` and before a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM
from wmh.core.types import Action
from wmh.errors import ProviderError
from wmh.ingest.synthetic import write_corpus
from wmh.pipeline.build import build_world_model
from wmh.retrieval.provider_embedder import LiteLLMEmbedder
from wmh.retrieval.text import QueryText
from wmh.store.loader import load_world_model


def embedder_overrides(fake: FakeLLM, *extra: str) -> list[str]:
    return [
        "embedder=litellm",
        "embedder.model=openai/embed-model",
        f"embedder.api_base={fake.api_base}",
        *extra,
    ]


def test_batches_once_per_distinct_text_and_unit_rows(fake_llm: FakeLLM) -> None:
    embedder = LiteLLMEmbedder("openai/embed-model", fake_llm.api_base, batch_size=4)
    texts = [QueryText(f"get_user {i % 6}", "") for i in range(20)]  # 6 distinct texts
    vectors = embedder.embed(texts)
    assert vectors.shape == (20, 32) and embedder.card.dim == 32
    sent = [t for r in fake_llm.embedding_requests for t in r["input"]]
    assert sorted(sent) == sorted({t.action for t in texts})  # each once
    assert [len(r["input"]) for r in fake_llm.embedding_requests] == [4, 2]
    assert all(r["model"] == "embed-model" for r in fake_llm.embedding_requests)
    assert vectors[0] == pytest.approx(vectors[6])  # the same text, the same vector
    assert (vectors**2).sum(axis=1) == pytest.approx([1.0] * 20)
    embedder.embed(texts[:3])
    assert len(fake_llm.embedding_requests) == 2  # cached: no new request
    sized = LiteLLMEmbedder("openai/text-embedding-3-small", fake_llm.api_base, dim=16)
    assert sized.embed([QueryText("x", "")]).shape == (1, 16)
    assert fake_llm.embedding_requests[-1]["dimensions"] == 16


def test_a_failing_endpoint_is_a_provider_error_without_the_key(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-embedder-key")
    fake_llm.embedding_status = 401
    embedder = LiteLLMEmbedder("openai/embed-model", fake_llm.api_base, num_retries=0)
    with pytest.raises(ProviderError, match="embedder openai/embed-model failed") as caught:
        embedder.embed([QueryText("get_user 1", "")])
    # the key went to the endpoint, whose 401 answer repeated it; the error does not
    assert fake_llm.api_keys == ["sk-canary-embedder-key"]
    assert "sk-canary" not in str(caught.value)


def test_a_model_built_with_provider_embeddings_queries_through_them(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    corpus = write_corpus(tmp_path / "c.jsonl", traces=12, seed=4)
    settings = make_settings(tmp_path, "emb", [corpus], *embedder_overrides(fake_llm))
    built = build_world_model(settings)
    card = json.loads((built.path / "model.json").read_text())
    assert card["embedder"]["kind"] == "litellm" and card["embedder"]["dim"] == 32
    assert card["embedder"]["api_base"] == fake_llm.api_base
    sent = [t for r in fake_llm.embedding_requests for t in r["input"]]
    assert len(sent) == len(set(sent)) > 12  # one ping, then every distinct text once
    before = len(fake_llm.embedding_requests)
    wm, _ = load_world_model(built.path)
    session = wm.new_session(task="look up a user")
    observation = wm.step(session.id, Action(name="get_user", arguments={"user_id": 123456}))
    assert observation.content and len(fake_llm.embedding_requests) > before  # the query


def _wmh(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "wmh", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_verify_checks_the_embedder_and_a_dead_one_stops_the_build(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    corpus = write_corpus(tmp_path / "c.jsonl", traces=8, seed=2)
    root = str(tmp_path / "store")
    flags = [f"-o{o}" for o in embedder_overrides(fake_llm)]
    built = _wmh("build", "--name", "e", "--file", str(corpus), "--root", root,
                 "--no-interactive", "-otrack=false", *flags)  # fmt: skip
    assert built.returncode == 0, built.stderr
    ok = _wmh("providers", "verify", "--root", root)
    assert ok.returncode == 0, ok.stdout
    row = next(line for line in ok.stdout.splitlines() if "embedder" in line)
    assert "pass" in row and "openai/embed-model" in row and "32-dim vector" in row
    fake_llm.embedding_status = 500
    dead = _wmh("providers", "verify", "--root", root)
    assert dead.returncode == 1
    assert "fail" in next(line for line in dead.stdout.splitlines() if "embedder" in line)
    rebuilt = _wmh("build", "--name", "e", "--file", str(corpus), "--root", root,
                   "--no-interactive", "-otrack=false", *flags)  # fmt: skip
    assert rebuilt.returncode == 1
    said = " ".join(rebuilt.stderr.split())
    assert "embedder openai/embed-model failed" in said
    assert "nothing was built and the previous model stays" in said
    assert (tmp_path / "store" / "models" / "e" / "model.json").is_file()

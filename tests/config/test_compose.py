from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from wmh.config.compose import (
    compose_config,
    file_overrides,
    quote_override,
    to_container,
    to_settings,
)
from wmh.errors import ConfigError
from wmh.pipeline.build import build_world_model
from wmh.store.settings import model_settings


def test_defaults_are_offline_replay_with_the_hashing_embedder() -> None:
    settings = to_settings(compose_config(["name=x"]))
    assert settings.provider.name == "replay"
    assert settings.embedder.kind == "hashing"
    assert (settings.split.train, settings.split.valid, settings.split.test) == (0.8, 0.1, 0.1)


def test_groups_and_keys_are_overridable() -> None:
    settings = to_settings(compose_config(["name=x", "embedder=minilm", "retrieval.top_k=3"]))
    assert settings.embedder.kind == "minilm"
    assert settings.retrieval.top_k == 3


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("foo=1", "foo"), ("retrieval.top_k=many", "top_k"), ("provider=nope", "provider")],
)
def test_unknown_or_mistyped_overrides_are_config_errors(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        to_settings(compose_config(["name=x", override]))


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (f"retrieval.top_k={2**63}", f"retrieval.top_k: {2**63} is out of range"),
        (f"study.seeds={10**20}", f"study.seeds: {10**20} is out of range"),
        (f"study.sizes=[1,{-(2**63) - 1}]", f"study.sizes: {-(2**63) - 1} is out of range"),
    ],
)
def test_whole_numbers_past_64_bits_are_refused_when_composed(override: str, said: str) -> None:
    # Taken, they failed after the work, where the results were written (a JSON of 64 bits).
    with pytest.raises(ConfigError, match=said):
        to_settings(compose_config(["name=x", override]))
    assert to_settings(compose_config(["name=x", f"seed={2**63 - 1}"])).seed == 2**63 - 1


def test_a_saved_config_past_64_bits_is_refused_with_its_file(tmp_path: Path) -> None:
    from wmh.config.compose import settings_from_file, to_yaml

    settings = to_settings(compose_config(["name=x"]))
    settings.retrieval.top_k = 10**20
    (tmp_path / "config.yaml").write_text(to_yaml(settings))
    with pytest.raises(
        ConfigError, match=f"config.yaml: retrieval.top_k: {10**20} is out of range"
    ):
        settings_from_file(tmp_path / "config.yaml")


def test_a_generic_file_name_is_named_after_its_folder_however_the_path_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wmh.config.compose import corpus_name

    folder = tmp_path / "t1"
    folder.mkdir()
    monkeypatch.chdir(folder)
    # A bare name was "traces" while ../t1/traces.otel.jsonl was "t1": two names for one file.
    for typed in ("traces.otel.jsonl", "./traces.otel.jsonl", "../t1/traces.otel.jsonl"):
        assert corpus_name([typed]) == "t1"
    assert corpus_name(["shop.otel.jsonl"]) == "shop"
    assert corpus_name(["corpus.jsonl"]) == corpus_name(["spans.json"]) == "t1"
    # Reduced to what a model name may hold, with no leading or trailing dot or dash.
    assert corpus_name([".hidden.jsonl"], "study") == "study"  # nothing before the dot
    assert corpus_name(["-my run!-x.jsonl"]) == "my-run--x"


def test_a_missing_name_is_reported() -> None:
    with pytest.raises(ConfigError, match="name"):
        to_settings(compose_config([]))


@pytest.mark.parametrize(
    "value",
    [
        "a b,c/x.jsonl", "it's.jsonl", "C:\\dir\\f.jsonl", "end\\", "a\\'b", "[x]=y,z", "",
        "x${seed}.jsonl", "a\\${seed}", "a\\\\${x}\\", "${", "$",
    ],
)  # fmt: skip
def test_a_quoted_override_value_comes_back_unchanged(value: str) -> None:
    cfg = compose_config(["name=x", f"data.files=[{quote_override(value)}]"])
    assert to_settings(cfg).data.files == [value]


def test_a_path_with_an_interpolation_sign_builds_from_that_file_and_reloads_as_it(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """A file named `x${seed}.jsonl` was read as `x0.jsonl` (another corpus, without a word),
    and a model's saved config resolved such a value again when it was loaded."""
    named = tmp_path / "x${seed}.jsonl"
    shutil.copy(synthetic_corpus, named)
    (tmp_path / "x0.jsonl").write_text("not the corpus\n")
    root = tmp_path / "r${seed}"
    settings = to_settings(compose_config(file_overrides("m", root, [named])))
    assert (settings.root, settings.data.files) == (str(root), [str(named)])
    result = build_world_model(dataclasses.replace(settings, track=False))
    assert result.path == root / "models" / "m"
    saved = model_settings(result.path)
    assert (saved.root, saved.data.files) == (str(root), [str(named)])
    assert to_container(saved)["data"]["files"] == [str(named)]


def test_a_build_from_compose_config_as_the_readme_shows(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """`build_world_model(compose_config([...]))` ran the whole build, then failed writing the
    model's config (a DictConfig is no dataclass)."""
    from wmh.ingest import read_traces

    cfg = compose_config(
        ["name=lib", f"root={quote_override(str(tmp_path))}", "track=false",
         f"data.files=[{quote_override(str(synthetic_corpus))}]"]
    )  # fmt: skip
    result = build_world_model(cfg)
    assert model_settings(result.path).name == "lib"
    one = read_traces(str(synthetic_corpus))  # a path alone, not a list of its characters
    assert one.report.files == [str(synthetic_corpus)] and one.report.steps == result.card.steps

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from wmh.errors import ConfigError, IngestError, ModelNotFoundError
from wmh.pipeline import build as build_module
from wmh.pipeline.build import build_world_model
from wmh.store.card import read_card
from wmh.store.loader import load_world_model
from wmh.store.store import WorldModelStore, check_model_name


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "", ".hidden", "x" * 200, "a..b"])
def test_model_names_with_paths_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid model name"):
        check_model_name(name)


def test_failed_build_leaves_no_directory_and_keeps_the_previous_model(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    before = read_card(first.path).created_at

    def broken(target: Path, *args: object) -> None:
        (target / "half-written").write_text("x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module, "write_model_dir", broken)
    with pytest.raises(Exception, match="No space left"):
        build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    assert read_card(first.path).created_at == before
    assert not any((tmp_path / "models" / ".staging").iterdir())
    load_world_model(first.path)


def test_bad_input_never_creates_a_model_directory(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(IngestError):
        build_world_model(make_settings(tmp_path, "bad", [data_dir / "bad_json.jsonl"]))
    assert not (tmp_path / "models" / "bad").exists()


def test_a_model_retired_by_a_killed_publish_is_recovered(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    built = build_world_model(make_settings(tmp_path, "m", [synthetic_corpus])).path
    os.replace(built, built.parent / ".retired-m.deadbeef")
    assert WorldModelStore(tmp_path).resolve("m") == built
    load_world_model(built)


def test_resolve_names_the_models_that_exist(tmp_path: Path, synthetic_corpus: Path) -> None:
    build_world_model(make_settings(tmp_path, "there", [synthetic_corpus]))
    with pytest.raises(ModelNotFoundError, match=r"built: there"):
        WorldModelStore(tmp_path).resolve("missing")


@pytest.mark.slow
def test_killing_a_build_at_any_moment_keeps_the_previous_model_loadable(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    from wmh.ingest.synthetic import write_corpus

    build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    original = read_card(tmp_path / "models" / "m").created_at
    big = write_corpus(tmp_path / "big.jsonl", traces=3000, seed=3)
    command = [
        sys.executable,
        "-m",
        "wmh.build",
        "name=m",
        f"root={tmp_path}",
        f"data.files=[{big}]",
        "hydra.run.dir=" + str(tmp_path / "hydra"),
    ]
    for delay in (0.5, 1.5, 2.5, 3.5, 4.5):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model_dir = WorldModelStore(tmp_path).resolve("m")
        wm, _ = load_world_model(model_dir)
        assert len(wm.retriever.table) > 0
        assert read_card(model_dir).created_at >= original
    leftovers = [p for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")]
    assert [p.name for p in leftovers] == ["m"]
    shutil.rmtree(tmp_path / "models" / ".staging", ignore_errors=True)

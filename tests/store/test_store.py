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
from wmh.pipeline import artifacts as artifacts_module
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

    monkeypatch.setattr(artifacts_module, "write_model_dir", broken)
    with pytest.raises(Exception, match="No space left"):
        build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    assert read_card(first.path).created_at == before
    assert not list((tmp_path / "models").glob(".staging-*"))
    load_world_model(first.path)


def test_a_write_failing_in_staging_is_a_store_error_and_leaves_nothing(tmp_path: Path) -> None:
    """A full disk while the model is written is said as wmh's own error, naming the model and
    the store (not an OSError traceback), and its staging folder is removed."""
    from wmh.errors import StoreError

    store = WorldModelStore(tmp_path)
    with (
        pytest.raises(StoreError, match=r"cannot write world model 'm' under .*: No space left"),
        store.staging("m") as tmp,
    ):
        (tmp / "half-written").write_text("x")
        raise OSError(28, "No space left on device")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_staging_folder_without_a_card_is_never_published(tmp_path: Path) -> None:
    """A model directory is complete once its card is written (last): one without it is
    refused, the model published before stays, and the refused build's folder goes (it was
    left in models/, named in the error, until a later build found its process gone)."""
    from wmh.errors import StoreError

    store = WorldModelStore(tmp_path)
    with store.staging("m") as tmp:
        (tmp / "model.json").write_text("first")
    refused = "world model 'm' was not published: its build wrote no model.json"
    with pytest.raises(StoreError, match=refused):
        with store.staging("m") as tmp:
            (tmp / "index").mkdir()
    assert (tmp_path / "models" / "m" / "model.json").read_text() == "first"
    assert not (tmp_path / "models" / "m" / "index").exists()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]


def test_a_publish_that_fails_to_move_the_build_is_a_store_error_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OSError while moving the build into place (a full disk, a read-only mount) is a
    StoreError naming the model, and the build's folder is removed; the model before stays."""
    from wmh.errors import StoreError

    store = WorldModelStore(tmp_path)
    with store.staging("m") as tmp:
        (tmp / "model.json").write_text("first")
    real_replace = os.replace

    def failing(src: object, dst: object) -> None:
        if Path(str(src)).name.startswith(".staging-"):
            raise OSError(30, "Read-only file system")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(StoreError, match="cannot publish world model 'm' in .*Read-only file"):
        with store.staging("m") as tmp:
            (tmp / "model.json").write_text("second")
    monkeypatch.setattr(os, "replace", real_replace)
    assert (store.resolve("m") / "model.json").read_text() == "first"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]


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


def test_a_retired_model_outlives_the_next_build_failing(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish killed between its two renames leaves the model only as `.retired-m.*`. The
    next build cleans up orphans before it works: it must not take the retired model for one
    whose replacement is in place, or a failure of that build loses the only model."""
    built = build_world_model(make_settings(tmp_path, "m", [synthetic_corpus])).path
    created = read_card(built).created_at
    os.replace(built, built.parent / ".retired-m.deadbeef")

    def broken(target: Path, *args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts_module, "write_model_dir", broken)
    with pytest.raises(Exception, match="No space left"):
        build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    assert WorldModelStore(tmp_path).resolve("m") == built
    assert read_card(built).created_at == created
    load_world_model(built)


def test_resolve_names_the_models_that_exist(tmp_path: Path, synthetic_corpus: Path) -> None:
    build_world_model(make_settings(tmp_path, "there", [synthetic_corpus]))
    with pytest.raises(ModelNotFoundError, match=r"\(built: there\); build it with"):
        WorldModelStore(tmp_path).resolve("missing")
    # A damaged copy is not listed as built: it is counted, and `wmh list` says what is wrong.
    shutil.copytree(tmp_path / "models" / "there", tmp_path / "models" / "broken")
    (tmp_path / "models" / "broken" / "model.json").write_text("{")
    with pytest.raises(ModelNotFoundError) as found:
        WorldModelStore(tmp_path).resolve("missing")
    assert "(built: there; 1 folder not a readable model: wmh list says why)" in str(found.value)


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
    published = original
    killed = 0
    for delay in (0.5, 1.5, 2.5, 3.5, 4.5):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        model_dir = WorldModelStore(tmp_path).resolve("m")
        wm, _ = load_world_model(model_dir)
        now = read_card(model_dir).created_at
        if code == -signal.SIGKILL:
            killed += 1
            # unchanged, unless the kill landed after the new model was renamed into place
            assert now >= published
        else:
            assert code == 0 and now > published  # it finished first: its model is in place
        published = now
        assert len(wm.retriever.table) > 0
    assert killed >= 3  # the kills landed mid-build, not after it
    build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))  # cleans up after them
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == ["m"]
    assert not list(models.glob(".retired-*")) and not list(models.glob(".staging-*"))


def test_orphans_of_killed_builds_are_removed_by_the_next_build(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    models = tmp_path / "models"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = models / f".staging-m.{dead.pid}.deadbeef"
    orphan.mkdir(parents=True)
    (orphan / "half").write_text("x")
    live = models / f".staging-m.{os.getpid()}.cafecafe"  # a build still running
    live.mkdir()
    retired = models / ".retired-m.0badf00d"
    retired.mkdir()
    build_world_model(make_settings(tmp_path, "m", [synthetic_corpus]))
    assert not orphan.exists() and not retired.exists() and live.exists()


def test_processes_publishing_one_name_never_collide(tmp_path: Path) -> None:
    # Three writers, many rounds: a shared staging folder removed by one writer while another
    # created its own in it failed here one run in three before the fix.
    script = f"""
import sys
from pathlib import Path
from wmh.store.store import WorldModelStore
store = WorldModelStore({str(tmp_path)!r})
for i in range(150):
    with store.staging("m") as tmp:
        (tmp / "model.json").write_text(sys.argv[1])
"""
    procs = [
        subprocess.Popen([sys.executable, "-c", script, tag], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b", "c")
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert (tmp_path / "models" / "m" / "model.json").read_text() in ("a", "b", "c")
    assert not list((tmp_path / "models").glob(".retired-*"))


def test_a_model_being_republished_is_always_found(tmp_path: Path) -> None:
    # A reader resolving the name between a publisher's two renames got "no world model".
    writer = f"""
from wmh.store.store import WorldModelStore
store = WorldModelStore({str(tmp_path)!r})
import pathlib
while not pathlib.Path({str(tmp_path / "reading")!r}).exists():
    pass
for i in range(200):
    with store.staging("m") as tmp:
        (tmp / "model.json").write_text(str(i))
pathlib.Path({str(tmp_path / "written")!r}).touch()
"""
    # The reader resolves from before the writer's first publish until after its last.
    reader = f"""
import pathlib
from wmh.errors import ModelNotFoundError
from wmh.store.store import WorldModelStore
store = WorldModelStore({str(tmp_path)!r})
misses = resolved = 0
written = pathlib.Path({str(tmp_path / "written")!r})
pathlib.Path({str(tmp_path / "reading")!r}).touch()
while not written.exists():
    try:
        store.resolve("m")
        resolved += 1
    except ModelNotFoundError:
        misses += 1
print(misses, resolved)
"""
    store = WorldModelStore(tmp_path)
    with store.staging("m") as tmp:
        (tmp / "model.json").write_text("first")
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for code in (writer, reader)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    misses, resolved = map(int, outputs[1].split())
    assert misses == 0 and resolved > 100


def test_mlflow_runs_land_under_the_store_root(tmp_path: Path, synthetic_corpus: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    root, elsewhere = tmp_path / "store", tmp_path / "cwd"
    elsewhere.mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "wmh"), "build", "--name", "m", "--file",
         str(synthetic_corpus), "--root", str(root), "--no-interactive"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (root / "mlflow.db").is_file() and list((root / "mlruns").rglob("config.yaml"))
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize(
    ("file", "text", "said"),
    [
        ("partitions.json", "[]", "does not cover the"),  # loaded: "unknown tool" to every call
        ("partitions.json", "{}", "not a list of partitions"),
        ("columns.json", '{"trace_ids": [', "cannot read the step table's columns"),
    ],
)
def test_a_damaged_index_is_named_as_damaged_when_loaded(
    built_model: Path, tmp_path: Path, file: str, text: str, said: str
) -> None:
    import shutil

    from wmh.errors import StoreError

    model = tmp_path / "m"
    shutil.copytree(built_model, model)
    damaged = model / "index" / file
    damaged.write_text(text)
    with pytest.raises(StoreError, match=said) as failed:
        load_world_model(model)
    assert str(damaged) in str(failed.value) and "damaged" in str(failed.value)


def test_staging_and_retired_folders_are_never_listed_as_models(
    built_model: Path, tmp_path: Path
) -> None:
    """A build still writing (its staging folder holds a card once written) and a model a
    publish retired are hidden folders: `wmh list` and serving see only the model itself."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(built_model, models / "records")
    shutil.copytree(built_model, models / ".retired-records.0badf00d")
    shutil.copytree(built_model, models / f".staging-records.{os.getpid()}.cafecafe")
    store = WorldModelStore(tmp_path)
    assert store.names() == ["records"]
    cards, unreadable = store.read_cards()
    assert [card.name for card in cards] == ["records"] and unreadable == []


@pytest.mark.parametrize("lost", [-1, 1], ids=["last", "middle"])
def test_an_index_missing_one_tool_s_partition_is_damaged(
    built_model: Path, tmp_path: Path, lost: int
) -> None:
    """A partitions.json that lost its last tool's partition (a cut write), or one in the
    middle, loads no steps of that tool: the model would answer "unknown tool" to each of its
    calls. It is named as damaged."""
    import json
    import shutil

    from wmh.errors import StoreError

    model = tmp_path / "m"
    shutil.copytree(built_model, model)
    described = model / "index" / "partitions.json"
    partitions = json.loads(described.read_text())
    assert len(partitions) > 2
    del partitions[lost]
    described.write_text(json.dumps(partitions))
    with pytest.raises(StoreError, match="does not cover the .* indexed steps once each"):
        load_world_model(model)


def test_a_model_of_an_older_format_is_refused_with_how_to_rebuild_it(
    built_model: Path, tmp_path: Path
) -> None:
    """A model written by an older wmh (model format 1) is not loaded as if it were this
    version's: it is refused, saying to rebuild it."""
    import json
    import shutil

    from wmh.errors import StoreError
    from wmh.store.card import FORMAT_VERSION

    model = tmp_path / "m"
    shutil.copytree(built_model, model)
    card = json.loads((model / "model.json").read_text())
    card["format_version"] = FORMAT_VERSION - 1
    (model / "model.json").write_text(json.dumps(card))
    with pytest.raises(StoreError, match="built by an older wmh .*rebuild it with `wmh build`"):
        load_world_model(model)


def test_a_card_that_cannot_be_read_is_a_store_error_naming_it(tmp_path: Path) -> None:
    """A model.json that is not a readable file (here a folder) is named as an unreadable
    card, as a damaged one is, not raised as an OSError."""
    from wmh.errors import StoreError

    (tmp_path / "m" / "model.json").mkdir(parents=True)
    with pytest.raises(StoreError, match=r"model.json: unreadable model card"):
        read_card(tmp_path / "m")


def test_a_model_answers_with_its_optimized_prompt_when_gepa_ran(tmp_path: Path) -> None:
    """A model directory with GEPA's optimized prompt answers with it, not with the base prompt
    it started from; without one, with the base prompt; with neither, with none."""
    from wmh.store.layout import ModelFiles
    from wmh.store.prompts import model_prompt, write_prompts

    tuned, plain = ModelFiles(tmp_path / "tuned"), ModelFiles(tmp_path / "plain")
    tuned.root.mkdir()
    plain.root.mkdir()
    write_prompts(tuned, "the base prompt", "the optimized prompt", {"best": 1})
    write_prompts(plain, "the base prompt", None, None)
    assert model_prompt(tuned) == "the optimized prompt"
    assert model_prompt(plain) == "the base prompt"
    assert model_prompt(ModelFiles(tmp_path / "none")) == ""

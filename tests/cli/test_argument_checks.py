"""Arguments no command could work with are refused at once, by name, before anything runs:
a port that is none, a collector's corpus path that is a folder, a store root that is a file."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.serving.servers import free_port
from wmh.config.schema import ServeConfig
from wmh.errors import ConfigError, StoreError
from wmh.eval.sim2real import run_sim2real
from wmh.pipeline import build as build_module
from wmh.serving.registry import Registry, load_model_dir, load_registry

WMH = str(Path(sys.executable).parent / "wmh")


def run(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        [WMH, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "400"},  # long paths on one line
    )  # fmt: skip
    return done.returncode, " ".join((done.stdout + done.stderr).split())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "70000"], "serve.port must be between 1 and 65535, got 70000"),
        (["--port", "-1"], "serve.port must be between 1 and 65535, got -1"),
        (["-o", "serve.max_body_bytes=0"], "serve.max_body_bytes must be at least 1, got 0"),
        (["-o", "serve.max_body_items=0"], "serve.max_body_items must be at least 1, got 0"),
        (["-o", "serve.max_waiting=-2"], "serve.max_waiting must be 0 or more, got -2"),
        (
            ["--log-level", "bogus"],
            "--log-level must be one of critical, error, warning, info, debug, trace, got 'bogus'",
        ),
        # A Redis URL redis-py cannot read was its ValueError's traceback (the password hidden).
        (
            ["--session-store", "redis", "--redis-url", "notaurl"],
            "serve.redis_url 'notaurl' is not a Redis URL: Redis URL must specify one of the "
            "following schemes",
        ),
        (
            ["--session-store", "redis", "--redis-url", "redis://:s3cretpw@127.0.0.1:port/0"],
            "serve.redis_url 'redis://***@127.0.0.1:port/0' is not a Redis URL: Port could not "
            "be cast to integer value as 'port'",
        ),
        (
            ["--session-store", "redis", "--redis-url", "redis://:s3cretpw@[::1:6379/0"],
            "serve.redis_url 'redis://***@[::1:6379/0' is not a Redis URL: Invalid IPv6 URL",
        ),
    ],
)
def test_serve_refuses_a_port_or_limit_that_is_none(
    built_model: Path, args: list[str], said: str
) -> None:
    code, out = run("serve", "--root", str(built_model.parents[1]), *args)
    assert code == 1 and f"error: {said}" in out
    assert "s3cretpw" not in out and "Traceback" not in out


def test_a_registry_is_not_loaded_with_a_limit_that_is_none(built_model: Path) -> None:
    with pytest.raises(ConfigError, match="serve.threads must be at least 1, got 0"):
        load_registry(built_model.parents[1], [], ServeConfig(threads=0))


def test_collect_refuses_a_corpus_path_it_could_never_append_to(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (tmp_path / "file").write_text("")
    taken = socket.socket()  # a collector that started anyway would fail to bind, not run on
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    for args, said in (
        (["--out", str(folder)], f"{folder} is a directory: --out names the corpus file"),
        (["--out", str(tmp_path / "file" / "c.jsonl")], "a part of its folder is a file"),
        (["--out", str(tmp_path / "c.jsonl"), "--max-mib", "-1"], "--max-mib must be a number"),
        (["--out", str(tmp_path / "c.jsonl"), "--max-mib", "nan"], "above 0, got nan"),
        (["--out", "/proc/wmh-c.jsonl"], "/proc/wmh-c.jsonl cannot be written"),
    ):
        code, out = run("collect", *args, "--port", port)
        assert code == 1 and said in out, out
    # The port taken: said before the banner, and the corpus file it made is gone again
    # (uvicorn exited with 3 after "collecting traces at ...", leaving an empty file).
    code, out = run("collect", "--out", str(tmp_path / "new" / "c.jsonl"), "--port", port)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port} (Address already in use)" in out
    assert "collecting traces" not in out and not (tmp_path / "new" / "c.jsonl").exists()
    # Nor is a file's unfinished last line cut for a collector that never ran.
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b'{"resourceSpans": []}\n{"resourceSp')
    code, out = run("collect", "--out", str(partial), "--port", port)
    assert code == 1 and partial.read_bytes() == b'{"resourceSpans": []}\n{"resourceSp'
    taken.close()
    # A port beyond 65535: uvicorn listened on it modulo 65536 while the banner said 99999.
    code, out = run("collect", "--out", str(tmp_path / "c.jsonl"), "--port", "99999")
    assert code == 1 and "--port must be between 1 and 65535, got 99999" in out, out
    assert not (tmp_path / "c.jsonl").exists() and list(folder.iterdir()) == []


def test_demo_refuses_fewer_than_one_step(built_model: Path) -> None:
    code, out = run("demo", "--root", str(built_model.parents[1]), "-n", "records", "--steps", "0")
    assert code == 2 and "Invalid value for '--steps'" in out


def test_a_store_root_that_is_a_file_stops_the_build_before_ingest(
    tmp_path: Path, synthetic_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.write_text("not a folder")

    def ingest(*args: object) -> None:
        raise AssertionError("the build ingested before it checked where it would publish")

    monkeypatch.setattr(build_module, "ingest_into", ingest)
    settings = make_settings(root, "s", [synthetic_corpus])
    with pytest.raises(StoreError, match=f"the store root {root} cannot hold models/"):
        build_module.build_world_model(settings)
    assert root.read_text() == "not a folder"


def test_a_model_is_not_loaded_into_a_service_with_a_limit_that_is_none(
    built_model: Path,
) -> None:
    registry = Registry()
    with pytest.raises(ConfigError, match="serve.max_body_bytes must be at least 1, got 0"):
        load_model_dir(registry, built_model, ServeConfig(max_body_bytes=0))  # as BentoML does
    assert registry.models == {}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ui", "--port", "70000"], "Invalid value for '--port'"),  # served on 70000 - 65536
        (["mcp", "-n", "records", "--transport", "http", "--port", "70001"], "'--port'"),
        (["eval", "sim2real", "airline", "--episodes", "0"], "Invalid value for '--episodes'"),
    ],
)
def test_an_option_out_of_its_range_is_refused(
    built_model: Path, args: list[str], said: str
) -> None:
    code, out = run(*args, "--root", str(built_model.parents[1]))
    assert code == 2 and said in out


@pytest.mark.parametrize(("episodes", "rate"), [(-1, 0.3), (3, float("nan")), (3, 5.0)])
def test_sim2real_refuses_episodes_or_a_rate_that_is_none(
    tmp_path: Path, episodes: int, rate: float
) -> None:
    with pytest.raises(ConfigError, match="episodes must be at least 1|rate is a chance"):
        run_sim2real(tmp_path, episodes, seed=0, rate=rate)
    code, out = run("eval", "sim2real", "airline", "--rate", "nan", "--no-track")
    assert code == 1 and "the perturbation rate is a chance, from 0 to 1; got nan" in out


def test_list_shows_the_models_it_can_read_and_names_the_damaged_one(
    built_model: Path, tmp_path: Path
) -> None:
    for name in ("good", "other", "damaged"):
        shutil.copytree(built_model, tmp_path / "models" / name)
        card = tmp_path / "models" / name / "model.json"
        # Two models of one experiment: `list` compares their configs to show what varied.
        card.write_text(
            json.dumps({**json.loads(card.read_text()), "experiment": "e", "name": name})
        )
    card.write_text(card.read_text()[:40])  # the damaged one's, cut mid-write
    (tmp_path / "models" / "other" / "config.yaml").write_bytes(b"name: \xff\n")
    code, out = run("list", "--root", str(tmp_path))
    assert code == 0, out
    # Where the card first fails, and how to mend it (it said "1 validation error for ModelCard").
    said = f"skipped: {card}: unreadable model card (the file: Invalid JSON: EOF while parsing"
    assert said in out
    assert "1 problem in all); build it again (wmh build --name damaged --file TRACES)" in out
    assert " good replay " in out and " other replay " in out and " damaged replay " not in out


def test_a_model_copied_to_another_folder_or_a_folder_without_a_card_is_named(
    built_model: Path, tmp_path: Path
) -> None:
    """A copy of model 'records' in models/renamed was listed (and served) as 'records', while
    --name renamed loaded it; a folder with no model.json was left out of the list unsaid."""
    shutil.copytree(built_model, tmp_path / "models" / "records")
    shutil.copytree(built_model, tmp_path / "models" / "renamed")
    (tmp_path / "models" / "half").mkdir()
    renamed = tmp_path / "models" / "renamed"
    code, out = run("list", "--root", str(tmp_path))
    assert code == 0, out
    assert f"skipped: {renamed} holds the model built as 'records'" in out
    assert f"skipped: {tmp_path / 'models' / 'half'}: not a world model (no model.json" in out
    assert out.count(" records ") == 1
    code, out = run("demo", "--name", "renamed", "--root", str(tmp_path), "--steps", "1")
    assert code == 1
    assert f"{renamed} holds the model built as 'records' (its model.json says so)" in out
    assert "rename the folder back to 'records'" in out
    code, out = run("demo", "--name", "records", "--root", str(tmp_path), "--steps", "1")
    assert code == 0, out


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"service: [unclosed\n", "not a readable bentofile"),
        (b"- a\n- b\n", "a bentofile is a YAML mapping, got list"),
        (b"service: caf\xe9\n", "not a readable bentofile"),
    ],
)
def test_package_refuses_a_bentofile_it_cannot_read(
    built_model: Path, tmp_path: Path, text: bytes, said: str
) -> None:
    bentofile = tmp_path / "bentofile.yaml"
    bentofile.write_bytes(text)
    code, out = run(
        "package", "--name", "records", "--root", str(built_model.parents[1]),
        "--bentofile", str(bentofile),
    )  # fmt: skip
    assert code == 1 and f"error: {bentofile}: {said}" in out and "Traceback" not in out


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
def test_a_seed_the_index_cannot_take_is_refused_before_the_build(
    tmp_path: Path, synthetic_corpus: Path, seed: str
) -> None:
    """FAISS's clustering takes a 32-bit seed: the build failed with an OverflowError
    traceback after ingest and embedding."""
    settings = make_settings(tmp_path, "s", [synthetic_corpus], f"seed={seed}")
    with pytest.raises(ConfigError, match=f"seed must be from 0 to 2147483647, got {seed}"):
        build_module.build_world_model(settings)


def test_a_negative_gepa_budget_is_refused_before_the_build(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    settings = make_settings(tmp_path, "s", [synthetic_corpus], "gepa.budget=-1")
    with pytest.raises(
        ConfigError, match=r"gepa.budget must be 0 \(no GEPA\) or more metric calls, got -1"
    ):
        build_module.build_world_model(settings)
    assert not (tmp_path / "models" / "s").exists()


def test_demo_says_when_it_replays_a_trace_the_index_holds(tmp_path: Path) -> None:
    """A model with no held-out trace replayed a training trace and showed fidelity 1.00 as if
    it were a test ('actions of a held-out trace', says the help)."""
    from tests.conftest import wmh_build
    from wmh.ingest.synthetic import write_corpus

    corpus = tmp_path / "one.jsonl"
    write_corpus(corpus, traces=1, seed=5)
    wmh_build(tmp_path / "store", "one", "--file", str(corpus))
    code, out = run("demo", "--name", "one", "--root", str(tmp_path / "store"), "--steps", "2")
    assert code == 0, out
    assert (
        "no held-out trace in 'one': replaying one of its train traces, whose answers its " in out
    )


def test_demo_on_a_held_out_trace_adds_no_such_note(built_model: Path) -> None:
    code, out = run("demo", "--name", "records", "--root", str(built_model.parents[1]))
    assert code == 0 and "steps, mean" in out and "no held-out trace" not in out


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("+foo=1", "unknown config key 'foo' in override '+foo=1'"),
        ("+retrieval.topk=3", "'retrieval.topk' in override '+retrieval.topk=3'; did you mean"),
        ("retrieval.topk=3", "'retrieval.topk' in override 'retrieval.topk=3'; did you mean"),
    ],
    ids=["added", "added-misspelt", "misspelt"],
)
def test_the_hydra_entry_point_refuses_unknown_keys_in_one_line(
    tmp_path: Path, given: str, said: str
) -> None:
    """`python -m wmh.build` built a model with `+foo=1` and `+retrieval.topk=3` (Hydra adds an
    unknown key and ignores it) and answered a misspelt key with a page suggesting `+key=`."""
    corpus = Path(__file__).resolve().parents[2] / "examples" / "airline" / "traces.otel.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "wmh.build", "name=x", f"root={tmp_path}",
         f"data.files=[{corpus}]", "track=false", given],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
    assert said in done.stderr and not (tmp_path / "models").exists()


def test_package_refuses_a_bentofile_whose_files_are_not_beside_it_before_importing(
    built_model: Path, tmp_path: Path
) -> None:
    """Run from another folder, the project's bentofile names a lock file and sources that are
    not there: BentoML failed with a traceback after importing the model (one more in its store
    per try), or, with the lock file there, built a bento without wmh's sources."""
    repo = Path(__file__).resolve().parents[2]
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(repo / "bentofile.yaml", project / "bentofile.yaml")
    home = tmp_path / "bentoml"

    def package() -> tuple[int, str]:
        done = subprocess.run(
            [WMH, "package", "--name", "records", "--root", str(built_model.parents[1]),
             "--bentofile", str(project / "bentofile.yaml")],
            capture_output=True, text=True, timeout=300, cwd=project,
            env={**os.environ, "BENTOML_HOME": str(home), "COLUMNS": "400"},
        )  # fmt: skip
        return done.returncode, " ".join((done.stdout + done.stderr).split())

    code, out = package()
    assert code == 1 and "its requirements_txt ./requirements.lock is not in" in out, out
    (project / "requirements.lock").write_text("")
    code, out = package()
    assert code == 1 and f"no file under {project} matches its include (wmh/**/*.py," in out
    assert "Traceback" not in out and not list(home.glob("models/*/*"))


def test_the_hydra_entry_points_own_options_are_not_taken_for_overrides() -> None:
    """The value of `-sc install=bash` (shell completion) or `-cd DIR=...` is no override."""
    from wmh.build import check_arguments

    for argv in (
        ["-sc", "install=bash"],
        ["--shell-completion", "query=seed"],
        ["-cd", "/tmp/a=b", "name=x"],
        ["--config-name", "pipeline", "seed=1"],
        ["hydra/launcher=joblib", "-m", "seed=1,2", "+hydra.job.chdir=true"],
    ):
        check_arguments(argv)  # no SystemExit
    with pytest.raises(SystemExit):
        check_arguments(["-cd", "/tmp", "retrieval.topk=3"])


def test_a_bentofile_include_is_matched_as_bentoml_matches_it(tmp_path: Path) -> None:
    """gitignore-style: a folder, `*.py` at any depth, negations (`Path.glob` refused `src/`,
    `src` and `*.py` for files in subfolders, and crashed on `/src/*.py`)."""
    from wmh.serving.package import _included

    for name in ("src/a.py", "src/sub/b.py", "src/sub/c.txt", ".venv/x.py", "top.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")

    def taken(include: list[str], exclude: tuple[str, ...] = ()) -> list[str]:
        found = _included(tmp_path, include, list(exclude))
        return sorted(p.relative_to(tmp_path.resolve()).as_posix() for p in found)

    assert taken(["src/"]) == ["src/a.py", "src/sub/b.py", "src/sub/c.txt"]
    assert taken(["*.py"]) == ["src/a.py", "src/sub/b.py", "top.py"]
    assert taken(["/src/*.py"]) == ["src/a.py"]
    assert taken(["src/", "!src/sub/b.py"]) == ["src/a.py", "src/sub/c.txt"]
    assert taken(["src/"], ("*.txt",)) == ["src/a.py", "src/sub/b.py"]


def test_a_redis_that_does_not_answer_is_found_before_any_worker_starts(
    built_model: Path,
) -> None:
    from wmh.serving.registry import check_models

    port = free_port()  # nothing listens there
    serve = ServeConfig(session_store="redis", redis_url=f"redis://:pw@127.0.0.1:{port}/0")
    with pytest.raises(
        StoreError, match=f"cannot reach Redis at redis://\\*\\*\\*@127.0.0.1:{port}/0"
    ):
        check_models(built_model.parents[1], [], serve)


@pytest.mark.parametrize(
    ("store", "ttl", "said"),
    [
        # NaN passed `<= 0`, and then every session expired as soon as it was made.
        ("memory", float("nan"), "serve.session_ttl_s must be > 0, got nan"),
        # inf crashed the Redis store with a traceback (OverflowError); 1e17 s started a server
        # whose every new session was a 503 'the session store is unavailable'.
        ("redis", float("inf"), "serve.session_ttl_s must be at most 1e+12 seconds with Redis"),
        ("redis", 1e17, "serve.session_ttl_s must be at most 1e+12 seconds with Redis"),
    ],
)
def test_a_session_ttl_that_is_no_duration_is_refused(store: str, ttl: float, said: str) -> None:
    from wmh.serving.settings import check_serve_config

    with pytest.raises(ConfigError, match=re.escape(said)):
        check_serve_config(ServeConfig(session_store=store, session_ttl_s=ttl))


def test_in_memory_sessions_may_never_expire() -> None:
    from wmh.serving.settings import check_serve_config

    check_serve_config(ServeConfig(session_ttl_s=float("inf")))


def test_list_on_a_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    """`wmh list --root FILE` said there were no models there and exited 0."""
    root = tmp_path / "root"
    root.write_text("not a folder")
    code, out = run("list", "--root", str(root))
    assert code == 1
    assert f"--root {root} is a file: it names the folder that holds models/" in out


@pytest.mark.parametrize("kind", ["scaling", "seeds"])
def test_a_study_from_a_params_file_refuses_a_root_it_would_not_use(
    tmp_path: Path, kind: str
) -> None:
    # The params file names the store root; a --root beside it was silently ignored.
    params = tmp_path / "params.yaml"
    params.write_text("name: x\n")
    code, out = run("study", kind, "--params", str(params), "--root", str(tmp_path / "r"))
    assert code == 1
    assert "error: --params takes the whole config: drop --name, --file, --root and -o" in out
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "named", [["--name", "../evil"], ["--name", "/abs/x"], ["--name", ""], ["-o", "name=../x"]]
)
def test_a_study_name_is_one_folder_of_the_store(tmp_path: Path, named: list[str]) -> None:
    """A study's results go to <root>/studies/<name>/: `--name ../evil` wrote beside the
    store, an absolute name anywhere, and an empty one into studies/ itself."""
    traces = Path(__file__).parents[2] / "examples/airline/traces.otel.jsonl"
    root = tmp_path / "store"
    code, out = run(
        "study", "scaling", "--file", str(traces), *named, "--root", str(root), "--no-mlflow",
        "-o", "study.sizes=[5]", "-o", "study.seeds=1",
    )  # fmt: skip
    shown = named[1].removeprefix("name=")
    assert code == 1
    assert f"error: invalid study name {shown!r}: use letters, digits" in out
    assert not tmp_path.joinpath("evil").exists() and not root.exists()


def test_a_study_without_files_says_so_first(tmp_path: Path) -> None:
    """With neither --file nor --name, the missing files were reported as a missing name."""
    code, out = run("study", "seeds", "--root", str(tmp_path / "store"), "--no-mlflow")
    assert code == 1
    assert "error: no trace files: pass --file PATH (or -o data.files=[...])" in out


def test_a_build_of_files_without_a_name_says_how_to_give_one(tmp_path: Path) -> None:
    code, out = run(
        "build", "--file", str(Path(__file__).parents[2] / "examples/airline/traces.otel.jsonl"),
        "--root", str(tmp_path / "store"), "--no-interactive",
    )  # fmt: skip
    assert code == 1
    assert out == (
        "error: no model name: pass --name NAME (wmh build, wmh eval) or name=NAME "
        "(python -m wmh.build)"
    )
    assert not (tmp_path / "store" / "models").exists()


def test_list_suggests_no_build_under_a_folder_name_a_build_would_refuse(
    built_model: Path, tmp_path: Path
) -> None:
    """A damaged model in 'my model' was told to `wmh build --name my model --file TRACES` (two
    arguments to a shell, and a name `wmh build` refuses); a copy in 'my copy' likewise."""
    shutil.copytree(built_model, tmp_path / "models" / "my model")
    shutil.copytree(built_model, tmp_path / "models" / "my copy")
    card = tmp_path / "models" / "my model" / "model.json"
    card.write_text(card.read_text()[:40])
    code, out = run("list", "--root", str(tmp_path))
    said = " ".join(out.split())
    assert code == 0, out
    assert "wmh build --name my" not in said, said
    assert (
        "build it again (wmh build --name NAME --file TRACES, under a name of letters, digits, "
        "'.', '_', '-')" in said
    ), said
    assert "holds the model built as 'records'" in said, said
    assert "build it anew as 'my copy'" not in said, said

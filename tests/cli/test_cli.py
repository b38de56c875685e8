from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wmh.config.compose import settings_from_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def wmh(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wmh", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=120,
    )


def table_cells(row: str) -> list[str]:
    """The cells of one row of a rich table."""
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, synthetic_corpus: Path) -> Path:
    root = tmp_path_factory.mktemp("cli-store")
    done = wmh(
        "build",
        "--name",
        "records",
        "--file",
        str(synthetic_corpus),
        "--root",
        str(root),
        "--no-interactive",
    )
    assert done.returncode == 0, done.stderr
    assert "held-out fidelity" in done.stdout
    return root


def test_list_shows_name_provider_steps_score_and_date(store: Path) -> None:
    done = wmh("list", "--root", str(store))
    assert done.returncode == 0
    row = next(line for line in done.stdout.splitlines() if "records" in line)
    card = json.loads((store / "models" / "records" / "model.json").read_text())
    split_steps = sum(part["steps"] for part in card["split"].values())
    fit = card["replay_fit"]
    assert (
        re.split(r"\s{2,}", row.strip())
        == [
            "records",
            "replay",
            str(card["ingest"]["steps"]),  # every ingested step is in one part of the split
            f"{card['heldout_score']:.3f}",
            f"{fit['score']:.3f}/{fit['nearest_copy']:.3f}",
            "-",  # no GEPA rollouts with the replay provider
            card["created_at"][:16].replace("T", " "),
            card["mlflow_run_id"][:8] or "-",
        ]
    )
    assert split_steps == card["ingest"]["steps"]


def test_play_reads_piped_actions_and_keeps_session_state(store: Path) -> None:
    script = "\n".join(
        [
            'get_user {"user_id": 5}',
            'update_address {"user_id": 5, "city": "Quito"}',
            'get_user {"user_id": 5}',
            'frobnicate {"x": 1}',
            "get_user {not json}",
            ":history",
        ]
    )
    done = wmh("play", "--name", "records", "--root", str(store), stdin=script)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count('> get_user {"user_id":5}') == 4  # played twice, twice in :history
    third_read = out.split('> get_user {"user_id":5}')[2]
    assert '"city": "Quito"' in third_read.split(">")[0]
    assert "frobnicate" in out and "unknown_tool" in out
    assert "arguments are not valid JSON" in out


def test_play_lists_tools_starts_a_new_session_and_quits(store: Path) -> None:
    tools = {
        json.loads(line)["action"]["name"]
        for line in (store / "models" / "records" / "steps" / "train.jsonl").open()
        if json.loads(line)["action"]["kind"] == "tool_call"
    }
    script = "\n".join(
        [
            ":tools",
            'get_user {"user_id": 5}',
            'update_address {"user_id": 5, "city": "Quito"}',
            ":new",
            'get_user {"user_id": 5}',
            ":history",
            ":quit",
            'get_user {"user_id": 6}',
        ]
    )
    done = wmh("play", "--name", "records", "--root", str(store), stdin=script)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # :tools: each tool's signature, then a call to copy.
    listed = 2 * len(tools)
    assert [line.split("(")[0] for line in lines[:listed:2]] == sorted(tools)
    assert all(line.startswith("    e.g. ") for line in lines[1:listed:2])
    lines = lines[listed:]
    assert lines[0] == '> get_user {"user_id":5}'
    first_read = lines[1]
    assert lines[2] == '> update_address {"city":"Quito","user_id":5}'
    assert '"city": "Quito"' in lines[3]
    assert re.fullmatch(r"new session [0-9a-f]{32}", lines[4])
    # The new session has none of the old one's writes, and its history is its one step.
    assert lines[5:] == ['> get_user {"user_id":5}', first_read] * 2
    assert '"city": "Quito"' not in first_read
    assert '"user_id":6' not in done.stdout  # nothing runs after :quit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--name", "x", "--file", "missing.jsonl"), "missing.jsonl: no such file"),
        (("build", "--name", "a/b", "--file", "x.jsonl"), "invalid model name"),
        (("build", "--name", "x", "--no-interactive"), "no trace files"),
        (("build", "--name", "x", "--file", "x.jsonl", "-o", "nope=1"), "nope"),
        (("play", "--name", "ghost"), "no world model named 'ghost'"),
        # Shown as typed: rich read `[/]` as a closing tag (a traceback) and `[bold]` as style.
        (("build", "--name", "x", "--file", "[/]x.jsonl"), "[/]x.jsonl: no such file"),
        (("build", "--name", "x", "--file", "[bold]x.jsonl"), "[bold]x.jsonl: no such file"),
        (
            ("build", "--name", "x", "--file", "a.jsonl", "-o", "data.files=[b.jsonl]"),
            "--file and -o data.files=... both set data.files: give one of them",
        ),
        (
            ("build", "--name", "x", "--file", "a.jsonl", "-o", "name=y"),
            "--name and -o name=... both set name",
        ),
    ],
)
def test_user_mistakes_exit_non_zero_with_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = wmh(*args, "--root", str(tmp_path)) if args[0] == "play" else wmh(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".wmh" / "models" / "x").exists()


def test_hydra_entry_point_builds_with_overrides(tmp_path: Path, synthetic_corpus: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wmh.build",
            "name=hy",
            f"root={tmp_path}",
            f"data.files=[{synthetic_corpus}]",
            "retrieval.top_k=3",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "built hy" in done.stdout
    assert "top_k: 3" in (tmp_path / "models" / "hy" / "config.yaml").read_text()
    nameless = subprocess.run(
        [sys.executable, "-m", "wmh.build", f"root={tmp_path}"],
        capture_output=True, text=True, env=ENV, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert nameless.returncode == 1 and "Traceback" not in nameless.stderr
    assert nameless.stderr.strip().endswith("no model name: pass --name NAME (wmh build, wmh eval) "
                                            "or name=NAME (python -m wmh.build)")  # fmt: skip


def test_examples_run_passes_arguments_and_wmh_to_the_script_and_its_exit_code(
    tmp_path: Path,
) -> None:
    task = tmp_path / "examples" / "echoer"
    task.mkdir(parents=True)
    (task / "run.sh").write_text('echo "args: $*"\necho "WMH: $WMH"\nexit 3\n')
    (tmp_path / "examples" / "no-corpus-no-script").mkdir()
    where = ("--dir", str(tmp_path / "examples"))
    done = wmh("examples", "run", "echoer", *where, "--", "capture", "--seed", "4")
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["args: capture --seed 4", f"WMH: {sys.executable} -m wmh"]
    missing = wmh("examples", "run", "no-corpus-no-script", *where)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "error: no example task 'no-corpus-no-script' (available: echoer)"
    )


def test_examples_run_drives_the_shipped_airline_capture(tmp_path: Path) -> None:
    out = tmp_path / "captured.jsonl"
    done = wmh("examples", "run", "airline", "--", "capture", "--traces", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    traces = {
        span["traceId"]
        for line in out.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }
    assert len(traces) == 2


def _suite(path: Path, title: str, files: list[str], judge: str, turns: str) -> None:
    listed = ", ".join(f'"{f}"' for f in files)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'title = "{title}"\nfiles = [{listed}]\nsample_turns = "{turns}"\nseed = 0\n'
        f'judge = "{judge}"\nprovider = "replay"\n'
    )


def test_eval_list_shows_each_suite_of_each_example(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    (examples / "shop").mkdir(parents=True)
    (examples / "shop" / "traces.otel.jsonl").write_text("")
    _suite(examples / "shop" / "evals" / "default.toml", "the shop", ["a.jsonl"], "exact", "all")
    _suite(
        examples / "shop" / "evals" / "numbers.toml",
        "prices",
        ["a.jsonl", "b.jsonl"],
        "numeric",
        "first",
    )
    (examples / "shop" / "evals" / "notes.txt").write_text("not a suite")
    # Broken suites are named, and hide none of the others.
    (examples / "shop" / "evals" / "latin1.toml").write_bytes(b'title = "caf\xe9"\n')
    bogus = examples / "shop" / "evals" / "bogus.toml"
    bogus.write_text('title = "b"\nfiles = ["a.jsonl"]\nmode = "bogus"\njudge = 3\n')
    done = wmh("eval", "list", "--dir", str(examples))
    assert done.returncode == 0, done.stderr
    rows = [table_cells(line) for line in done.stdout.splitlines() if line.startswith("│")]
    assert rows == [
        ["shop/default", "the shop", "a.jsonl", "exact", "replay", "all"],
        ["shop/numbers", "prices", "a.jsonl, b.jsonl", "numeric", "replay", "first"],
    ]
    said = " ".join(done.stdout.split())
    assert "latin1.toml: cannot read the suite (not UTF-8 text: byte 0xe9 at offset 12)" in said
    assert f"{bogus}: judge: Input should be a valid string; 2 problems in all" in said


def _eval(store: Path, out: Path, *args: str) -> dict:
    """`wmh eval --name records` on 6 held-out traces; the results JSON it wrote (runs in
    separate processes, which answer alike: see tests/engine/test_signature_stable.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "eval", "--name", "records", "--root", str(store),
         "--no-mlflow", "--limit", "6", "--out", str(out), *args],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"results: {out}" in " ".join(done.stdout.split())
    return json.loads(out.read_text())


@pytest.mark.parametrize("judge", ["exact", "numeric"])
def test_the_judge_chosen_by_config_scores_as_the_judge_flag(
    store: Path, tmp_path: Path, judge: str
) -> None:
    """`-o judge=NAME` (the config group) scores as `--judge NAME`, and not as the default
    structural judge."""
    by_config = _eval(store, tmp_path / "config.json", "-o", f"judge={judge}")
    flagged = _eval(store, tmp_path / "flag.json", "--judge", judge)
    default = _eval(store, tmp_path / "default.json")
    assert (by_config["judge"], flagged["judge"], default["judge"]) == (judge, judge, "structural")
    assert by_config["overall"] == flagged["overall"]
    assert by_config["overall"]["steps"] == default["overall"]["steps"] == 59
    # copying the action's arguments as the observation scores far lower by exact or numeric
    # matching than by structure: the judge really changed
    copied = by_config["overall"]["baselines"]["action_copy"]
    assert default["overall"]["baselines"]["action_copy"] - copied > 0.1


def test_eval_closed_loop_with_two_traces_at_once_scores_as_one_at_a_time(
    store: Path, tmp_path: Path
) -> None:
    closed = ("--judge", "exact", "--mode", "closed_loop")
    report = _eval(store, tmp_path / "two.json", *closed, "--concurrency", "2")
    one_at_a_time = _eval(store, tmp_path / "one.json", *closed)
    open_loop = _eval(store, tmp_path / "open.json", "--judge", "exact")
    assert (report["mode"], report["judge"]) == ("closed_loop", "exact")
    assert open_loop["mode"] == "open_loop"
    assert report["overall"] == one_at_a_time["overall"]
    assert report["per_tool"] == one_at_a_time["per_tool"]
    assert report["overall"]["steps"] == open_loop["overall"]["steps"] == 59
    # its own predictions as history, not the recorded ones: a different figure
    assert abs(report["overall"]["score"] - open_loop["overall"]["score"]) > 0.05


def test_pipeline_params_check_passes_a_fresh_file_and_fails_a_drifted_one(
    tmp_path: Path,
) -> None:
    params = tmp_path / "params.yaml"
    written = wmh("pipeline", "params", "name=shop", "--out", str(params))
    assert written.returncode == 0 and written.stdout.strip() == f"wrote {params}"
    assert "name: shop" in params.read_text().splitlines()
    same = wmh("pipeline", "params", "name=shop", "--out", str(params), "--check")
    assert same.returncode == 0 and same.stdout.strip() == f"{params} matches conf/"
    other_name = wmh("pipeline", "params", "name=other", "--out", str(params), "--check")
    assert other_name.returncode == 1
    params.write_text(params.read_text().replace("top_k: 5", "top_k: 6"))
    drifted = wmh("pipeline", "params", "name=shop", "--out", str(params), "--check")
    assert drifted.returncode == 1
    assert " ".join(drifted.stderr.split()) == (
        f"error: {params} differs from conf/ composed: regenerate it with wmh pipeline params"
    )
    # A literal `${` (escaped in the override) is written so that reading it keeps it.
    literal = tmp_path / "literal.yaml"
    assert wmh("pipeline", "params", "name=shop", "data.path=x\\${seed}.jsonl",
               "--out", str(literal)).returncode == 0  # fmt: skip
    assert settings_from_file(literal).data.path == "x${seed}.jsonl"
    missing = wmh("pipeline", "params", "--out", str(tmp_path / "none.yaml"), "--check")
    assert missing.returncode == 1 and not (tmp_path / "none.yaml").exists()
    # The file is committed and read by every stage: a secret never reaches it.
    secret = wmh(
        "pipeline", "params", "name=shop", "provider.api_base=https://u:sekret-pw@127.0.0.1/v1",
        "--out", str(params),
    )  # fmt: skip
    assert secret.returncode == 1 and "provider.api_base carries credentials" in secret.stderr
    assert "sekret-pw" not in params.read_text() + secret.stderr + secret.stdout
    for out, said in ((tmp_path, "is a directory"), (tmp_path / "no" / "p.yaml", "no directory")):
        refused = wmh("pipeline", "params", "name=shop", "--out", str(out))
        assert refused.returncode == 1 and said in " ".join(refused.stderr.split())


def test_sim2real_with_reward_success_from_the_cli_scores_both_worlds(tmp_path: Path) -> None:
    from wmh.eval.sim2real import example_success_check, run_sim2real

    done = wmh(
        "eval", "sim2real", "airline", "-o", "reward=success", "--episodes", "2", "--no-track",
        "--root", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (written,) = (tmp_path / "evals" / "airline").glob("sim2real-*.json")
    report = json.loads(written.read_text())
    assert report["reward"] == "success" and report["episodes"] == 2
    airline = EXAMPLES / "airline"
    library = run_sim2real(airline, 2, 0, example_success_check(airline))
    fields = ("trace_id", "reward_sim", "reward_real", "critique_sim", "critique_real")
    assert [tuple(r[f] for f in fields) for r in report["results"]] == [
        tuple(getattr(r, f) for f in fields) for r in library.results
    ]
    agree = [abs(r["reward_sim"] - r["reward_real"]) <= 0.2 for r in report["results"]]
    assert report["reward_agreement"] == sum(agree) / len(agree)
    assert f"episode rewards (success): agreement {report['reward_agreement']}" in " ".join(
        done.stdout.split()
    )

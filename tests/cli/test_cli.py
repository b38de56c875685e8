from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "replay" in row and "20" in row and "0." in row


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--name", "x", "--file", "missing.jsonl"), "missing.jsonl: no such file"),
        (("build", "--name", "a/b", "--file", "x.jsonl"), "invalid model name"),
        (("build", "--name", "x", "--no-interactive"), "no trace files"),
        (("build", "--name", "x", "--file", "x.jsonl", "-o", "nope=1"), "nope"),
        (("play", "--name", "ghost"), "no world model named 'ghost'"),
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

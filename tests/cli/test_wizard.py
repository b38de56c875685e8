"""The guided `wmh build`, driven through a pseudo-terminal as a user would answer it."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

WMH = str(Path(sys.executable).parent / "wmh")


def _run_on_a_terminal(args: list[str], answers: list[str], cwd: Path) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.Popen([WMH, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            # Answer a question once its prompt (ending in ': ') has been shown.
            if pending and output.rstrip(b" ").endswith((b":", b"]:", b"):")):
                os.write(master, (pending.pop(0) + "\n").encode())
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, output.decode(errors="replace")


def test_the_wizard_asks_shows_the_command_and_builds(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    answers = [
        "files",
        str(tmp_path / "missing.jsonl"),
        str(synthetic_corpus),
        "wizmodel",
        "replay",
        "hashing",
        "y",
    ]
    start = ["build", "--root", str(tmp_path / "store"), "-o", "track=false"]
    code, out = _run_on_a_terminal([*start, "-o", "embedder=minilm"], answers, tmp_path)
    assert code == 0, out[-3000:]
    assert "not found:" in out  # a wrong path is asked again
    # The command shown is the same build: its --root (and -o) too, which it left out, given
    # before the answers, as the build applies them.
    store = tmp_path / "store"
    said = (
        f"wmh build --name wizmodel --root {store} -o track=false -o embedder=minilm "
        f"--file {synthetic_corpus}"
    )
    assert f"{said} -o provider=replay -o embedder=hashing --no-interactive" in " ".join(
        out.split()
    )
    # ... and the build it runs: the answer (hashing) over the -o given before it (minilm).
    card = json.loads((store / "models" / "wizmodel" / "model.json").read_text())
    assert (card["provider"], card["embedder"]["kind"]) == ("replay", "hashing")


def test_off_a_terminal_missing_inputs_are_an_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [WMH, "build", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert " ".join(done.stderr.split()) == (  # wrapped at 80 columns
        "error: no model name: pass --name NAME (wmh build, wmh eval) or name=NAME "
        "(python -m wmh.build)"
    )
    assert not (tmp_path / "models").exists()


def test_the_wizard_offers_phoenix_and_a_no_builds_nothing(tmp_path: Path) -> None:
    answers = ["phoenix", "http://127.0.0.1:6006", "support", "", "replay", "hashing", "n"]
    given = ["-o", "embedder=minilm", "-o", "provider.api_base=http://bob:s3cret@127.0.0.1:9/v1"]
    code, out = _run_on_a_terminal(
        ["build", "--root", str(tmp_path / "store"), *given], answers, tmp_path
    )
    assert code == 1 and "build cancelled" in out, out[-3000:]
    # The answer (hashing) after the -o it was started with, as the build takes them; a URL
    # given with a password shown without it.
    command = (
        f"wmh build --name support --root {tmp_path / 'store'} -o embedder=minilm "
        "-o 'provider.api_base=http://***@127.0.0.1:9/v1' -o source=phoenix "
        "-o source.endpoint=http://127.0.0.1:6006 -o source.project=support -o provider=replay "
        "-o embedder=hashing --no-interactive"
    )
    assert command in out and "s3cret" not in out
    assert not (tmp_path / "store" / "models").exists()


def test_the_wizard_asks_again_for_a_tracking_uri_with_a_password_and_never_shows_it(
    tmp_path: Path,
) -> None:
    answers = [
        "mlflow", "http://bob:s3cretpw@127.0.0.1:5999", f"sqlite:///{tmp_path}/t.db", "support",
        "", "replay", "hashing", "n",
    ]  # fmt: skip
    code, out = _run_on_a_terminal(["build", "--root", str(tmp_path / "store")], answers, tmp_path)
    assert code == 1 and "build cancelled" in out
    said = " ".join(out.split())
    assert "that URL carries credentials: give it without them and set MLFLOW_TRACKING" in said
    # Only the terminal's echo of the typing: not in the summary or the command shown.
    assert out.count("s3cretpw") == 1
    assert f"-o source.tracking_uri=sqlite:///{tmp_path}/t.db" in out

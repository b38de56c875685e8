"""The README's agent loops run as written (in-process and through gymnasium)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.DOTALL)


def test_the_readme_agent_loops_run(capsys) -> None:
    blocks = _blocks("Agents against a world model")
    assert len(blocks) == 2
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert " -> " in printed  # the in-process loop printed its steps


def test_the_readme_scored_episode_runs(capsys) -> None:
    blocks = _blocks("The Python API")
    scored = next(b for b in blocks if "score_session" in b)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(scored, "README.md", "exec"), {})  # noqa: S102 - our own README
    finally:
        os.chdir(cwd)
    first, second = capsys.readouterr().out.strip().splitlines()
    reward, success, steps, judge_calls = first.split()
    assert 0.0 <= float(reward) <= 1.0 and success in ("True", "False")
    assert int(steps) > 0 and judge_calls == "0"  # a programmatic check calls no LLM
    assert second.startswith("done reward=") and f"reward={reward}" in second

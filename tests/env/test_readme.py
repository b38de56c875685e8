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
    spaces: list[dict] = [{}, {}]
    try:
        for block, space in zip(blocks, spaces, strict=True):
            exec(compile(block, "README.md", "exec"), space)  # noqa: S102 - our own README
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.splitlines()
    # One line per step of the episode, each the action and the start of what it got back.
    episode = spaces[0]["episode"]
    assert printed == [
        f"{s.action.render()} -> {s.observation.content[:80]}" for s in episode.steps
    ]
    recorded = [s.action for s in spaces[0]["agent"].trace.steps]
    assert [s.action for s in episode.steps] == recorded[: len(episode.steps)]
    # The gymnasium block's step answered about the user it asked for.
    assert "mia_li_3668" in spaces[1]["text"]


def test_the_readme_scored_episode_runs(capsys) -> None:
    blocks = _blocks("The Python API")
    scored = next(b for b in blocks if "score_session" in b)
    cwd = os.getcwd()
    os.chdir(ROOT)
    space: dict = {}
    try:
        exec(compile(scored, "README.md", "exec"), space)  # noqa: S102 - our own README
    finally:
        os.chdir(cwd)
    first, second = capsys.readouterr().out.strip().splitlines()
    reward, success, steps, judge_calls = first.split()
    score, usage, trace = space["score"], space["usage"], space["trace"]
    assert (float(reward), success) == (score.reward, str(score.success))
    assert int(steps) == usage.steps == len(trace.steps)  # every recorded action was stepped
    assert judge_calls == "0"  # a programmatic check calls no LLM
    # The episode replays the same actions: the same judge gives it the same score.
    episode = space["episode"]
    assert (episode.score.reward, episode.score.success) == (score.reward, score.success)
    assert second == f"{episode.stop_reason} {episode.score}"

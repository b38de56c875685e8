"""The reward seam: a judge grades an episode from its task and history (never a gold trace).

It lives with the core types because the world model scores its own sessions
(`WorldModel.score_session`) with whichever judge it is given; the judges themselves (an LLM
with a rubric, an example's programmatic check) are in `wmh.scoring.rewards`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wmh.core.types import Turn, UsageTotals

SUCCESS_REWARD = 0.5  # without the judge's own word, an episode rewarded this much succeeded


@dataclass
class RewardVerdict:
    episode: float
    steps: list[float | None] = field(default_factory=list)  # None: the judge gave none
    critique: str = ""
    success: bool | None = None  # the judge's own word, when it has one
    usage: UsageTotals = field(default_factory=UsageTotals)  # what judging cost

    @property
    def succeeded(self) -> bool:
        return self.success if self.success is not None else self.episode >= SUCCESS_REWARD


class RewardJudge(Protocol):
    name: str

    def judge(self, task: str, turns: Sequence[Turn]) -> RewardVerdict: ...

"""Reward judges: a step reward per turn and an episode reward in [0, 1], with a short critique.

`reward=rubric` asks an LLM (through the provider layer, so any litellm provider or the local test
server) to grade the transcript against the task with the configured rubric. `reward=none` gives
no reward. `reward=success` is an example's programmatic check (`make_success_check()` in its
env.py) with the same `judge` method.
"""

from __future__ import annotations

from collections.abc import Sequence

from wmh.core.json_text import extract_json_object, is_finite_number
from wmh.core.reward import RewardJudge, RewardVerdict
from wmh.core.text import clip
from wmh.core.types import Turn, UsageTotals
from wmh.errors import ProviderError
from wmh.providers.llm import LLMProvider

__all__ = ["RewardJudge", "RewardVerdict", "RubricReward", "parse_verdict"]


PROMPT = """Grade an agent's episode in an environment.
Rubric: {rubric}

Task: {task}

Transcript ({n} steps; each an action and the environment's answer):
{transcript}

Answer with one JSON object and nothing else:
{{"steps": [one score in [0, 1] per step, in order], "episode": score in [0, 1],
 "success": true or false (did the agent accomplish the task?),
 "critique": "one or two sentences"}}"""


def _clamp(value: object) -> float:
    return min(1.0, max(0.0, float(value)))  # type: ignore[arg-type]


def _step_score(value: object) -> float | None:
    """A step's score in [0, 1]; None where the judge gave no number (not a 0 it never gave)."""
    return _clamp(value) if is_finite_number(value) else None


def parse_verdict(text: str, steps: int) -> RewardVerdict:
    """The judge's JSON. An answer with no episode score in it is a ProviderError naming it:
    scored 0, it was a reward the judge never gave (an RL loop trained on it), told apart from
    a real 0 only by the critique; failed, the episode can be scored again."""
    data = extract_json_object(text)
    if data is None:
        raise ProviderError(
            f"the reward judge's answer holds no JSON verdict: {text[:120]!r}; nothing was "
            "scored (score the episode again, or check reward.rubric and the judge's model)"
        )
    episode = data.get("episode")
    if not is_finite_number(episode):
        raise ProviderError(
            f"the reward judge's answer has no episode score (a number in [0, 1]): "
            f"{text[:120]!r}; nothing was scored (score the episode again, or check "
            "reward.rubric and the judge's model)"
        )
    listed = data.get("steps")
    raw_steps: list[object] = listed if isinstance(listed, list) else []
    # A step the judge listed no number for has no reward (None), told apart from a 0 it gave.
    scores = [_step_score(v) for v in raw_steps[:steps]]
    scores += [None] * (steps - len(scores))
    success = data.get("success")
    return RewardVerdict(
        _clamp(episode),
        scores,
        str(data.get("critique", ""))[:500],
        success if isinstance(success, bool) else None,
    )


class RubricReward:
    name = "rubric"

    def __init__(self, provider: LLMProvider, rubric: str) -> None:
        self.provider = provider
        self.rubric = rubric

    def judge(self, task: str, turns: Sequence[Turn]) -> RewardVerdict:
        transcript = "\n".join(
            f"{i + 1}. {t.action.render()}\n   -> "
            f"{'[error] ' if t.observation.is_error else ''}{clip(t.observation.content, 200)}"
            for i, t in enumerate(turns)
        )
        prompt = PROMPT.format(
            rubric=self.rubric, task=task, n=len(turns), transcript=transcript or "(none)"
        )
        answer = self.provider.complete([{"role": "user", "content": prompt}])
        usage = UsageTotals(
            calls=1,
            input_tokens=answer.prompt_tokens,
            output_tokens=answer.completion_tokens,
            cost_usd=answer.cost,
            latency_s=round(answer.latency_s, 6),
        )
        try:
            verdict = parse_verdict(answer.text, len(turns))
        except ProviderError as exc:
            exc.usage = usage  # (the call was made and billed: its session meters it)
            raise
        verdict.usage = usage
        return verdict

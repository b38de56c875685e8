"""The rubric judge: an LLM grades a prediction against the recorded observation with a written
rubric, through the provider layer. It answers JSON `{"score": 0..1, "feedback": "..."}`.
"""

from __future__ import annotations

import re
import threading

from wmh.core.json_text import extract_json_object, is_finite_number
from wmh.core.types import Observation
from wmh.errors import ProviderError
from wmh.providers.llm import LLMProvider, Usage
from wmh.scoring.judges import Verdict

DEFAULT_RUBRIC = (
    "Score 1.0 when the predicted observation says the same thing as the recorded one: same "
    "facts, values, ids, statuses and error or success outcome; formatting differences that a "
    "program reading the output would not notice do not matter. Score 0.0 when it contradicts "
    "the recorded observation or has the wrong outcome. Give partial credit for partly right."
)

# A number in [0, 1] standing alone: not part of 10, 0.5.1 or v1.2; a full stop after it ends
# the sentence ("I'd say 0.75.").
_NUMBER = re.compile(r"(?<![\d.])(0(?:\.\d+)?|1(?:\.0+)?)(?!\d|\.\d)")


def parse_grade(text: str) -> Verdict:
    """The grade in a completion: JSON first, else the first number in [0, 1]."""
    data = extract_json_object(text)
    if data is not None and "score" in data:
        score = data["score"]
        if not is_finite_number(score):  # "NaN", "inf", "1_0", true: no grade, not 0 or 1
            raise ValueError(f"no score in the judge's answer: {text[:120]!r}")
        return Verdict(min(1.0, max(0.0, float(score))), str(data.get("feedback", ""))[:500])
    number = _NUMBER.search(text)
    if number:
        return Verdict(float(number.group(1)), text.strip()[:500])
    raise ValueError(f"no score in the judge's answer: {text[:120]!r}")


class RubricJudge:
    """Grades through an LLM. A judgement it could not get (the call failed, or the answer held
    no score) scores 0 with the reason as feedback, and is counted: `judged`, `ungraded`, and
    the first reason, so that an evaluation can say how many of its scores are no grade at all.
    """

    name = "rubric"

    def __init__(self, provider: LLMProvider, rubric: str = "") -> None:
        self.provider = provider
        self.rubric = rubric.strip() or DEFAULT_RUBRIC
        self.judged = 0
        self.ungraded = 0
        self.first_failure = ""
        self._counting = threading.Lock()

    @property
    def usage(self) -> Usage:
        """The judge's own calls, tokens and cost (apart from the world model's)."""
        return self.provider.usage

    def messages(self, predicted: Observation, expected: Observation) -> list[dict[str, str]]:
        def show(observation: Observation) -> str:
            flag = "error" if observation.is_error else "ok"
            return f"[{flag}]\n{observation.content}"

        return [
            {
                "role": "system",
                "content": "You grade how faithfully a simulated environment "
                "reproduced a real one. Answer with JSON only: "
                '{"score": <number from 0 to 1>, "feedback": "<one short sentence>"}.',
            },
            {
                "role": "user",
                "content": f"Rubric:\n{self.rubric}\n\nRecorded observation:\n"
                f"{show(expected)}\n\nPredicted observation:\n{show(predicted)}",
            },
        ]

    def judge(self, predicted: Observation, expected: Observation) -> Verdict:
        try:
            completion = self.provider.complete(self.messages(predicted, expected))
            verdict = parse_grade(completion.text)
        except (ProviderError, ValueError) as exc:
            reason = f"rubric judge gave no grade: {exc}"
            with self._counting:
                self.judged += 1
                self.ungraded += 1
                self.first_failure = self.first_failure or reason
            return Verdict(0.0, reason)
        with self._counting:
            self.judged += 1
        return verdict

"""Our GEPA adapter: how a candidate environment prompt is run and judged, and what the
reflection model is shown. The search itself is the `gepa` library's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wmh.core.text import clip
from wmh.core.types import Action, Observation, Session, Turn
from wmh.engine.llm import LLMPredictor
from wmh.engine.llm_prompt import PromptBudget
from wmh.engine.predictor import PredictionContext
from wmh.engine.replay import ReplayPredictor
from wmh.providers.llm import LLMProvider
from wmh.retrieval.retriever import Query, Retriever, recent_actions
from wmh.scoring.judges import Judge

if TYPE_CHECKING:  # imported when GEPA runs: a build without an LLM provider never does
    from gepa.core.adapter import EvaluationBatch

COMPONENT = "env_prompt"


@dataclass(frozen=True)
class Example:
    """One valid-split step with its recorded history (open loop)."""

    trace_id: str
    index: int
    task: str
    history: tuple[Turn, ...]
    action: Action
    expected: Observation


@dataclass
class Trajectory:
    example: Example
    examples_shown: list[str]
    predicted: Observation
    score: float
    feedback: str


class WorldModelAdapter:
    """Evaluates `{"env_prompt": text}` by predicting steps with the LLM and judging them."""

    # GEPA's own reflective proposer writes the new prompt from our reflective dataset.
    propose_new_texts = None

    def __init__(
        self,
        provider: LLMProvider,
        retriever: Retriever,
        replay: ReplayPredictor,
        judge: Judge,
        top_k: int,
        budget: PromptBudget,
    ) -> None:
        self.provider = provider
        self.retriever = retriever
        self.replay = replay
        self.judge = judge
        self.top_k = top_k
        self.budget = budget

    def _predictor(self, candidate: Mapping[str, str]) -> LLMPredictor:
        # The cache is off: an exact replay would hide what the prompt does.
        return LLMPredictor(
            self.provider,
            self.retriever,
            candidate[COMPONENT],
            self.replay,
            top_k=self.top_k,
            cache=False,
            budget=self.budget,
        )

    def evaluate(
        self, batch: list[Example], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch:
        predictor = self._predictor(candidate)
        outputs, scores, trajectories = [], [], []
        for example in batch:
            session = Session(
                id=f"gepa-{example.trace_id}", task=example.task, history=list(example.history)
            )
            predicted = predictor.predict(
                PredictionContext(session, example.action, exclude_trace=example.trace_id)
            )
            verdict = self.judge.judge(predicted, example.expected)
            outputs.append(predicted.content)
            scores.append(verdict.score)
            if capture_traces:
                shown = self.retriever.neighbours(
                    Query(
                        example.action,
                        example.task,
                        recent_actions(example.history, len(example.history)),
                        example.trace_id,
                    ),
                    self.top_k,
                )
                trajectories.append(
                    Trajectory(
                        example,
                        [
                            f"{n.step.action.render()} -> {clip(n.step.observation.content, 80)}"
                            for n in shown
                        ],
                        predicted,
                        verdict.score,
                        verdict.feedback,
                    )
                )
        from gepa.core.adapter import EvaluationBatch

        return EvaluationBatch(
            outputs=outputs, scores=scores, trajectories=trajectories if capture_traces else None
        )

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch,
        components_to_update: list[str],
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        records = []
        for trajectory in eval_batch.trajectories or []:
            example = trajectory.example
            records.append(
                {
                    "Inputs": {
                        "task": clip(example.task, 120),
                        "action": example.action.render(),
                        "retrieved examples": "\n".join(trajectory.examples_shown),
                    },
                    "Generated Outputs": clip(trajectory.predicted.content, 400),
                    "Feedback": (
                        f"score {trajectory.score:.2f}; {trajectory.feedback}. The real "
                        f"environment answered (is_error={example.expected.is_error}): "
                        f"{clip(example.expected.content, 400)}"
                    ),
                }
            )
        return {component: records for component in components_to_update}

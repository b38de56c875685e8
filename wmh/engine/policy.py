"""Which parts of the replay model answer for each tool, as chosen on held-apart steps.

Every part of the replay model (session replay, corpus replay, context in the retrieval, a
consensus among neighbours, adaptation of values, the session-state overlay) helps on some
environments and hurts on others. A build measures them on steps the index did not see and keeps,
per tool, the ones that earn their place; `NEAREST_COPY` (every part off) is always among the
choices, so a tool is never answered worse than by copying its nearest recorded call.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wmh.core.text import counted
from wmh.retrieval.weights import Weights

# The parts an ablation switches off one at a time (`ReplayPolicies.without`).
COMPONENTS = (
    "session_replay",
    "corpus_replay",
    "adapt",
    "literals",
    "overlay",
    "error_style",
    "context",
    "consensus",
    "selection",
)


class ReplayPolicy(BaseModel):
    """How the replay model answers one tool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_replay: bool = True  # the same call earlier in the session answers again
    corpus_replay: bool = True  # the same call in the corpus answers, the most alike context first
    task_weight: float = 0.0  # how much a like task adds to a neighbour's likeness
    history_weight: float = 0.0  # how much like preceding actions add
    consensus: int = 0  # > 1: the answer most in agreement among this many nearest
    adapt: bool = True  # the neighbour's argument values swapped for the current ones
    # With adapt: the lines the neighbour's call printed for certain (`echo "done"`) swapped
    # for those the current call prints (`wmh.engine.literals`). Off unless the build saw the
    # tool's recordings show what its calls print (a model built before it stays as it was).
    literals: bool = False
    overlay: bool = True  # records the session already showed keep their latest values

    def weights(self) -> Weights:
        return Weights(self.task_weight, self.history_weight)

    def describe(self) -> str:
        """A short label: `copy`, or the parts in use (`session+corpus+ctx(t0.1)+adapt`)."""
        parts = [name for name in ("session_replay", "corpus_replay") if getattr(self, name)]
        parts = [p.split("_")[0] for p in parts]
        if self.task_weight or self.history_weight:
            parts.append(f"ctx(t{self.task_weight:g},h{self.history_weight:g})")
        if self.consensus > 1:
            parts.append(f"consensus{self.consensus}")
        parts += [name for name in ("adapt", "overlay") if getattr(self, name)]
        return "+".join(parts) or "copy"


NEAREST_COPY = ReplayPolicy(
    session_replay=False, corpus_replay=False, adapt=False, literals=False, overlay=False
)


class ReplayPolicies(BaseModel):
    """The policy of each tool the build measured, and one for every other tool."""

    model_config = ConfigDict(extra="forbid")

    default: ReplayPolicy = Field(default_factory=ReplayPolicy)
    tools: dict[str, ReplayPolicy] = Field(default_factory=dict)
    use_error_style: bool = True

    def of(self, route: str) -> ReplayPolicy:
        return self.tools.get(route, self.default)

    def without(self, component: str) -> ReplayPolicies:
        """The same policies with one part switched off everywhere (for ablations).

        `selection` drops the per-tool choices (the default answers for every tool)."""
        if component not in COMPONENTS:
            raise ValueError(f"unknown replay component {component!r}: one of {COMPONENTS}")
        if component == "selection":
            return ReplayPolicies(default=ReplayPolicy(), use_error_style=self.use_error_style)
        if component == "error_style":
            return self.model_copy(update={"use_error_style": False})
        switched: dict[str, dict[str, Any]] = {
            "context": {"task_weight": 0.0, "history_weight": 0.0},
            "consensus": {"consensus": 0},
        }
        off = switched.get(component, {component: False})
        return ReplayPolicies(
            default=self.default.model_copy(update=off),
            tools={tool: p.model_copy(update=off) for tool, p in self.tools.items()},
            use_error_style=self.use_error_style,
        )


class ToolFit(BaseModel):
    """What the fit measured for one tool (mean scores on its measured steps)."""

    steps: int
    policy: str
    score: float
    nearest_copy: float
    all_parts: float


class FitReport(BaseModel):
    """What the fit measured and chose; `metrics.json` and `wmh list` show it."""

    steps: int = 0
    traces: int = 0
    # Steps not measured: their tool was recorded in their own trace alone (left out, unknown).
    unrecorded: int = 0
    judge: str = ""
    default: str = ""
    score: float | None = None
    nearest_copy: float | None = None
    tools: dict[str, ToolFit] = Field(default_factory=dict)

    def summary(self) -> str:
        if not self.steps:
            return "the defaults (no steps to measure them on)"
        lifted = sum(1 for t in self.tools.values() if t.policy != "copy")
        unrecorded = (
            f" (not counted: {counted(self.unrecorded, 'step')} of tools no other trace called)"
            if self.unrecorded
            else ""
        )
        return (
            f"chosen on {counted(self.steps, 'step')} of "
            f"{counted(self.traces, 'trace')}, each left out "
            f"of the index in turn{unrecorded}: "
            f"{self.score:.3f} vs nearest copy {self.nearest_copy:.3f}; "
            f"default {self.default}; {lifted} of {len(self.tools)} tools use more than the copy"
        )

"""An agent that proposes the actions of a recorded (held-out) trace, in order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from wmh.core.types import Action, Step, Trace, Turn


class SampledAgent:
    """Replays one trace's actions; `expected(i)` is what the real environment answered."""

    name = "sampled"

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.actions = [s.action for s in trace.steps]

    @property
    def task(self) -> str:
        return self.trace.steps[0].task if self.trace.steps else ""

    def act(self, task: str, history: Sequence[Turn]) -> Action | None:
        i = len(history)
        return self.actions[i] if i < len(self.actions) else None

    def expected(self, i: int) -> Step:
        return self.trace.steps[i]


class PerturbedAgent(SampledAgent):
    """A seeded scripted policy: the trace's actions, but with probability `rate` one argument
    value of a call is swapped for another value the corpus recorded for that tool and argument
    (`values`: tool -> argument -> values, e.g. from `WorldModel.tool_schemas()` examples), so
    episodes leave the recorded paths the way a new agent would."""

    name = "perturbed"

    def __init__(
        self,
        trace: Trace,
        values: dict[str, dict[str, list[object]]],
        seed: int = 0,
        rate: float = 0.3,
    ) -> None:
        super().__init__(trace)
        rng = random.Random(f"{seed}:{trace.trace_id}")
        self.actions = [self._perturb(s.action, values, rng, rate) for s in trace.steps]

    @staticmethod
    def _perturb(
        action: Action, values: dict[str, dict[str, list[object]]], rng: random.Random, rate: float
    ) -> Action:
        options = {
            key: [v for v in values.get(action.name, {}).get(key, []) if v != current]
            for key, current in action.arguments.items()
        }
        options = {k: v for k, v in options.items() if v}
        if not options or rng.random() >= rate:
            return action
        key = rng.choice(sorted(options))
        return action.model_copy(
            update={"arguments": {**action.arguments, key: rng.choice(options[key])}}
        )


def recorded_values(schemas: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[object]]]:
    """tool -> argument -> recorded example values, from inferred tool schemas."""
    out: dict[str, dict[str, list[object]]] = {}
    for tool, spec in schemas.items():
        properties = spec.get("inputSchema", {}).get("properties", {})
        out[tool] = {k: list(p.get("examples", [])) for k, p in properties.items()}
    return out


def pick_trace(traces: list[Trace], seed: int, min_steps: int = 3) -> Trace:
    """A seeded choice, preferring traces with a few steps."""
    longer = [t for t in traces if len(t.steps) >= min_steps] or traces
    return random.Random(seed).choice(sorted(longer, key=lambda t: t.trace_id))

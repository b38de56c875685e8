"""What the replay predictor learns from the training corpus about the environment: how it words
an unknown-tool error, which tools answer a repeated call differently later in a run, and which
tools' answers carry a changed record (writes) rather than the record as it was (reads)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from wmh.core.types import ActionKind, Step

TOOL_SLOT = "{tool}"


class ErrorStyle(BaseModel):
    """A template with a `{tool}` slot, learnt from the corpus or a neutral default."""

    template: str = "Error: unknown tool '{tool}'"
    learnt: bool = False

    def render(self, tool: str) -> str:
        return self.template.replace(TOOL_SLOT, tool)


def learn_error_style(steps: Iterable[Step]) -> ErrorStyle:
    """The most common error that names its own tool, with the name turned into a slot.

    Without such an error, follow the corpus's format: JSON `{"error": ...}` when most errors are
    JSON objects with an `error` key, plain text otherwise.
    """
    named: Counter[str] = Counter()
    json_errors = 0
    errors = 0
    for step in steps:
        obs = step.observation
        if not obs.is_error or step.action.kind is not ActionKind.TOOL_CALL:
            continue
        errors += 1
        name = step.action.name
        if len(name) >= 3 and name in obs.content and obs.content.count(name) == 1:
            named[obs.content.replace(name, TOOL_SLOT)] += 1
        try:
            parsed = json.loads(obs.content)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(parsed, dict) and "error" in parsed:
            json_errors += 1
    unknown_like = [
        (t, c)
        for t, c in named.most_common()
        if any(
            w in t.lower()
            for w in ("unknown", "not found", "no such", "invalid", "not a valid", "does not exist")
        )
    ]
    if unknown_like:
        return ErrorStyle(template=unknown_like[0][0], learnt=True)
    if errors and json_errors * 2 > errors:
        return ErrorStyle(template=json.dumps({"error": f"Unknown tool: {TOOL_SLOT}"}), learnt=True)
    return ErrorStyle()


def learn_repeat_reliability(traces: Iterable[Sequence[Step]]) -> dict[str, float]:
    """Per tool: how often a call repeated within a run answered exactly as the first time.

    A shell re-running `python3 app.py` after an edit, or a read after a write, answers
    differently; replaying the session's earlier answer for such a tool would be stale.
    """
    repeats: Counter[str] = Counter()
    same: Counter[str] = Counter()
    for steps in traces:
        seen: dict[str, str] = {}
        for step in steps:
            if step.action.kind is not ActionKind.TOOL_CALL:
                continue
            key = step.action.key()
            if key in seen:
                repeats[step.action.name] += 1
                same[step.action.name] += seen[key] == step.observation.content
            seen[key] = step.observation.content
    return {tool: round(same[tool] / n, 4) for tool, n in sorted(repeats.items())}


def learn_state_writers(traces: Iterable[Sequence[Step]], threshold: float = 0.5) -> list[str]:
    """Tools whose answers usually show a record different from what the run had shown before.

    `cancel_reservation` answers with the reservation now `cancelled`, unlike the `active` one
    read before; a predicted answer of such a tool must not be "corrected" back to the session's
    older record. (A read after a write that its answer did not show counts too: for that read,
    the session's record is just as likely to be stale.)
    """
    from wmh.engine.consistency import records_in

    changed: Counter[str] = Counter()
    seen_before: Counter[str] = Counter()
    for steps in traces:
        state: dict[tuple[str, str], dict[str, object]] = {}
        for step in steps:
            if step.observation.is_error or step.action.kind is not ActionKind.TOOL_CALL:
                continue
            for primary, fields in records_in(step.observation.content):
                before = state.get(primary)
                if before is not None:
                    seen_before[step.action.name] += 1
                    changed[step.action.name] += any(
                        key in before and before[key] != value for key, value in fields.items()
                    )
                state[primary] = {**(before or {}), **fields}
    return sorted(t for t, n in seen_before.items() if changed[t] / n >= threshold)

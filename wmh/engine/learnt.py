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


class Lessons:
    """What the learners below gather, a trace at a time: a build folds each trace in as it is
    ingested (its steps are not held afterwards), and lessons of parts of a corpus add up in
    order (`absorb`) to the lessons of them read one after another."""

    def __init__(self) -> None:
        self.named: Counter[str] = Counter()  # errors naming their tool, the name as a slot
        self.json_errors = 0
        self.errors = 0
        self.repeats: Counter[str] = Counter()
        self.same: Counter[str] = Counter()
        self.changed: Counter[str] = Counter()
        self.seen_before: Counter[str] = Counter()

    @classmethod
    def of(cls, traces: Iterable[Sequence[Step]]) -> Lessons:
        lessons = cls()
        for steps in traces:
            lessons.add(steps)
        return lessons

    def absorb(self, other: Lessons) -> None:
        """Add what `other` gathered, as if its traces were folded in after these."""
        for mine, theirs in (
            (self.named, other.named),
            (self.repeats, other.repeats),
            (self.same, other.same),
            (self.changed, other.changed),
            (self.seen_before, other.seen_before),
        ):
            mine.update(theirs)
        self.json_errors += other.json_errors
        self.errors += other.errors

    def add(self, steps: Sequence[Step]) -> None:
        """One trace's steps, in order."""
        self._add_errors(steps)
        self._add_repeats(steps)
        self._add_records(steps)

    def _add_errors(self, steps: Iterable[Step]) -> None:
        for step in steps:
            obs = step.observation
            if not obs.is_error or step.action.kind is not ActionKind.TOOL_CALL:
                continue
            self.errors += 1
            name = step.action.name
            if len(name) >= 3 and name in obs.content and obs.content.count(name) == 1:
                self.named[obs.content.replace(name, TOOL_SLOT)] += 1
            try:
                parsed = json.loads(obs.content)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(parsed, dict) and "error" in parsed:
                self.json_errors += 1

    def _add_repeats(self, steps: Sequence[Step]) -> None:
        seen: dict[str, str] = {}
        for step in steps:
            if step.action.kind is not ActionKind.TOOL_CALL:
                continue
            key = step.action.key()
            if key in seen:
                self.repeats[step.action.name] += 1
                self.same[step.action.name] += seen[key] == step.observation.content
            seen[key] = step.observation.content

    def _add_records(self, steps: Sequence[Step]) -> None:
        from wmh.engine.consistency import records_in

        state: dict[tuple[str, str], dict[str, object]] = {}
        for step in steps:
            if step.observation.is_error or step.action.kind is not ActionKind.TOOL_CALL:
                continue
            for primary, fields in records_in(step.observation.content):
                before = state.get(primary)
                if before is not None:
                    self.seen_before[step.action.name] += 1
                    self.changed[step.action.name] += any(
                        key in before and before[key] != value for key, value in fields.items()
                    )
                state[primary] = {**(before or {}), **fields}

    def error_style(self) -> ErrorStyle:
        """The most common error that names its own tool, with the name turned into a slot.

        Without such an error, follow the corpus's format: JSON `{"error": ...}` when most
        errors are JSON objects with an `error` key, plain text otherwise.
        """
        unknown_like = [
            (t, c)
            for t, c in self.named.most_common()
            if any(
                w in t.lower()
                for w in (
                    "unknown", "not found", "no such", "invalid", "not a valid", "does not exist"
                )
            )
        ]  # fmt: skip
        if unknown_like:
            return ErrorStyle(template=unknown_like[0][0], learnt=True)
        if self.errors and self.json_errors * 2 > self.errors:
            template = json.dumps({"error": f"Unknown tool: {TOOL_SLOT}"})
            return ErrorStyle(template=template, learnt=True)
        return ErrorStyle()

    def repeat_reliability(self) -> dict[str, float]:
        """Per tool: how often a call repeated within a run answered exactly as the first time.

        A shell re-running `python3 app.py` after an edit, or a read after a write, answers
        differently; replaying the session's earlier answer for such a tool would be stale.
        """
        return {tool: round(self.same[tool] / n, 4) for tool, n in sorted(self.repeats.items())}

    def state_writers(self, threshold: float = 0.5) -> list[str]:
        """Tools whose answers usually show a record different from what the run had shown
        before.

        `cancel_reservation` answers with the reservation now `cancelled`, unlike the `active`
        one read before; a predicted answer of such a tool must not be "corrected" back to the
        session's older record. (A read after a write that its answer did not show counts too:
        for that read, the session's record is just as likely to be stale.)
        """
        return sorted(t for t, n in self.seen_before.items() if self.changed[t] / n >= threshold)

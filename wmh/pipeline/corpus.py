"""A build's corpus, folded in a trace at a time as ingest assembles it.

Each trace leaves behind its steps' JSON lines, the few columns the index is built from (route,
exact-replay key, trace, answer length, the action's text, its task and the actions before it)
and what the replay model learns from it (`Lessons`, per split part); its pydantic objects are
then dropped. So a build's memory grows with these, not with the objects (about 3.5 KB a step
against the line's 0.5 KB); the stages that read whole traces (the steps the replay parts are
chosen on, the held-out steps) parse the few they read from the lines.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from wmh.config.schema import SplitConfig
from wmh.core.stored import StoredTraces, TraceRows
from wmh.core.types import Trace
from wmh.engine.learnt import Lessons
from wmh.ingest.split import PARTS, SMALL_CORPUS, assign_part, split_stored
from wmh.retrieval.table import step_json
from wmh.retrieval.text import HISTORY_WINDOW, action_text, route_of, window_name


class Corpus:
    """The traces of a build as lines (`store`) and per step, in trace order, the columns the
    index is built from."""

    def __init__(self, split: SplitConfig | None = None) -> None:
        self.store = TraceRows()
        self._split = split
        # Per step: numbers in arrays (8 bytes each, not an int object), and each tool name,
        # call key, text and task held once however many steps share it.
        self.routes: list[str] = []
        self.key_of = array("q")  # into `keys`: its exact-replay key
        self.trace_of = array("q")
        self.chars = array("q")  # its answer's length
        self.text_of = array("q")  # into `texts`: the action's retrieval text
        self.task_of = array("q")  # into `tasks`
        self.windows = array("q")  # `HISTORY_WINDOW` a step: the actions before it, -1 for none
        self.keys: list[str] = []
        self.texts: list[str] = []
        self.names: list[str] = []  # per text: its tool's name, or "say" for a message
        self.tasks: list[str] = []
        self._numbers: dict[str, dict[str, int]] = {"key": {}, "text": {}, "task": {}}
        self._routes: dict[str, str] = {}
        self.lessons = {part: Lessons() for part in PARTS}
        self._in_order = True  # traces folded in in order of their ids (as ingest gives them)

    @classmethod
    def of(cls, traces: Iterable[Trace], split: SplitConfig | None = None) -> Corpus:
        """The corpus of these traces; with `split`, what each part teaches is kept apart (for
        `lessons_of`)."""
        corpus = cls(split)
        for trace in traces:
            corpus.add(trace)
        return corpus

    def __len__(self) -> int:
        return len(self.routes)

    def _number(self, kind: str, value: str, values: list[str]) -> int:
        numbers = self._numbers[kind]
        number = numbers.get(value)
        if number is None:
            number = numbers[value] = len(values)
            values.append(value)
        return number

    def add(self, trace: Trace) -> None:
        steps = trace.steps
        number = len(self.store)
        if number and trace.trace_id <= self.store.ids[-1]:
            self._in_order = False
        self.store.add(trace, [step_json(step) for step in steps])
        own: list[int] = []
        for step in steps:
            action = step.action
            texts = len(self.texts)
            text = self._number("text", action_text(action), self.texts)
            if text == texts:
                self.names.append(window_name(action))
            own.append(text)
            route = route_of(action)
            self.routes.append(self._routes.setdefault(route, route))
            self.key_of.append(self._number("key", action.key(), self.keys))
            self.trace_of.append(number)
            self.chars.append(len(step.observation.content))
            self.text_of.append(text)
            self.task_of.append(self._number("task", step.task, self.tasks))
        # As `recent_actions` gives a query its history: the actions just before the step.
        for step in steps:
            window = own[max(0, step.index - HISTORY_WINDOW) : step.index]
            self.windows.extend(window + [-1] * (HISTORY_WINDOW - len(window)))
        if self._split is not None:
            split = self._split
            part = assign_part(trace.trace_id, split.train, split.valid, split.salt)
            self.lessons[part].add(steps)

    def lessons_of(self, parts: Sequence[str]) -> Lessons:
        """What these parts' traces teach, read part after part, each in order of trace id (as
        `split_stored` lists them). A corpus of at most `SMALL_CORPUS` traces is all train, and
        one folded in out of order was not kept apart in that order: their few traces are read
        again."""
        if self._split is None:
            raise ValueError("a corpus folded without a split keeps no lessons apart")
        if len(self.store) <= SMALL_CORPUS or not self._in_order:
            split = split_stored(self.store, self._split)
            return Lessons.of(t.steps for part in parts for t in split.part(part))
        out = Lessons()
        for part in parts:
            out.absorb(self.lessons[part])
        return out

    def traces(self, numbers: Sequence[int] | None = None) -> StoredTraces:
        return StoredTraces(self.store, range(len(self.store)) if numbers is None else numbers)

    def window_array(self) -> np.ndarray:
        """Per step, its window's texts (-1 where it has fewer actions before it)."""
        return np.frombuffer(self.windows, dtype=np.int64).reshape(-1, HISTORY_WINDOW)

    def window(self, step: int) -> list[int]:
        """The texts of the actions just before a step, oldest first."""
        start = step * HISTORY_WINDOW
        return [t for t in self.windows[start : start + HISTORY_WINDOW] if t >= 0]

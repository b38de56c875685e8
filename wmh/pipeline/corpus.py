"""A build's corpus, folded in a trace at a time as ingest assembles it (or, in the DVC index
stage, as the split stage's files are read).

Each trace leaves behind its steps' JSON lines, the few columns the index is built from (route,
exact-replay key, trace, answer length, the action's text, its task and the steps before it)
and, given the build's split, what the replay model learns from it (`Lessons`, per part); its
pydantic objects are then dropped. So a build's memory grows with these, not with the objects
(about 3.5 KB a step against the line's 0.5 KB); the stages that read whole traces parse the
ones they read from the lines.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

from wmh.config.schema import SplitConfig
from wmh.core.stored import TraceRows
from wmh.core.types import Trace
from wmh.engine.learnt import Lessons
from wmh.ingest.split import SMALL_CORPUS, assign_part, split_stored
from wmh.retrieval.text import HISTORY_WINDOW, action_text, route_of, window_name

TAUGHT = ("train", "valid")  # the parts the replay model learns from


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
        self.name_of = array("q")  # into `names`: its `window_name`
        self.task_of = array("q")  # into `tasks`
        # `HISTORY_WINDOW` a step: the steps just before it in its trace, -1 for none.
        self.windows = array("q")
        self.keys: list[str] = []
        self.texts: list[str] = []
        self.names: list[str] = []
        self.tasks: list[str] = []
        self._numbers: dict[str, dict[str, int]] = {k: {} for k in ("key", "text", "name", "task")}
        self._routes: dict[str, str] = {}
        self.lessons = {part: Lessons() for part in TAUGHT} if split is not None else {}
        self._in_order = True  # traces folded in in order of their ids (as ingest gives them)

    @classmethod
    def of(cls, traces: Iterable[Trace], split: SplitConfig | None = None) -> Corpus:
        """The corpus of these traces; with `split`, what the parts teach is kept (`taught`)."""
        corpus = cls(split)
        for trace in traces:
            corpus.add(trace)
        return corpus

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
        first = len(self.routes)
        self.store.add(trace)
        for step in steps:
            action = step.action
            route = route_of(action)
            self.routes.append(self._routes.setdefault(route, route))
            self.key_of.append(self._number("key", action.key(), self.keys))
            self.trace_of.append(number)
            self.chars.append(len(step.observation.content))
            self.text_of.append(self._number("text", action_text(action), self.texts))
            self.name_of.append(self._number("name", window_name(action), self.names))
            self.task_of.append(self._number("task", step.task, self.tasks))
        # As `recent_actions` gives a query its history: the steps just before it.
        own = range(first, len(self.routes))
        for step in steps:
            window = list(own[max(0, step.index - HISTORY_WINDOW) : step.index])
            self.windows.extend(window + [-1] * (HISTORY_WINDOW - len(window)))
        if self._split is not None:
            split = self._split
            part = assign_part(trace.trace_id, split.train, split.valid, split.salt)
            if part in self.lessons:
                self.lessons[part].add(steps)

    def taught(self) -> Lessons:
        """What the train and valid traces teach, read part after part, each in order of trace
        id (as `split_stored` lists them). A corpus of at most `SMALL_CORPUS` traces is all
        train (its few traces are read again); one folded in out of order did not keep its parts
        apart in that order (every train and valid trace is read again)."""
        if self._split is None:
            raise ValueError("a corpus folded without a split keeps no lessons apart")
        if len(self.store) <= SMALL_CORPUS or not self._in_order:
            split = split_stored(self.store, self._split)
            return Lessons.of(t.steps for part in TAUGHT for t in split.part(part))
        out = Lessons()
        for part in TAUGHT:
            out.absorb(self.lessons[part])
        return out

    def window_texts(self) -> np.ndarray:
        """Per step, the texts (numbers into `texts`) of the actions just before it, oldest
        first, -1 where it has fewer."""
        steps = np.array(self.windows, dtype=np.int64).reshape(-1, HISTORY_WINDOW)
        texts = np.append(np.array(self.text_of, dtype=np.int64), -1)  # -1: none
        return texts[steps]

    def window_names(self, step: int) -> list[str]:
        """The `window_name`s of the actions just before a step, oldest first."""
        start = step * HISTORY_WINDOW
        window = self.windows[start : start + HISTORY_WINDOW]
        return [self.names[self.name_of[s]] for s in window if s >= 0]

"""What a recorded step's surroundings look like: its task and the actions just before it.

The index finds calls alike in themselves; these columns then say which of them were made in a
like task, after like actions, so the replay model can weigh that per tool where it helps.
Tasks are stored once each (a trace's steps share one); histories once per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from wmh.core.memo import text_cache
from wmh.core.types import Action
from wmh.errors import StoreError
from wmh.retrieval.hashing import text_vector, text_vectors, unit, unit_rows, word_counts
from wmh.retrieval.text import HISTORY_WINDOW, TASK_CHARS, action_text

TASK_DIM = 256
HISTORY_DIM = 256
HISTORY_ROWS = 8192  # histories summed at a time


@lru_cache(maxsize=1024)
def task_vector(task: str) -> np.ndarray:
    return unit(word_counts(task[:TASK_CHARS], TASK_DIM))


@text_cache(entries=16384, chars=2_000_000)
def _action_vector(text: str) -> np.ndarray:
    return text_vector(text, HISTORY_DIM)


def history_vector(recent: Sequence[Action]) -> np.ndarray:
    """The last few actions, each embedded once (a session's next step reuses them all)."""
    window = recent[-HISTORY_WINDOW:]
    if not window:
        return np.zeros(HISTORY_DIM, dtype=np.float32)
    summed = _action_vector(action_text(window[0])).copy()
    for action in window[1:]:  # in order, as `np.sum` adds them (and `window_vectors`)
        summed += _action_vector(action_text(action))
    return unit(summed)


def window_vectors(
    windows: np.ndarray, texts: Sequence[str], dtype: type = np.float32
) -> np.ndarray:
    """`history_vector` of each row's window of actions, given as their numbers in `texts`
    (-1 for none, the oldest first), as rows in `dtype`, bit for bit: each text used embedded
    once (a batch at a time), each window's vectors added in order, made unit."""
    used = np.unique(windows[windows >= 0])
    number = np.full(len(texts) + 1, len(used), dtype=np.int64)  # -1 (the last): none
    number[used] = np.arange(len(used))
    vectors = np.zeros((len(used) + 1, HISTORY_DIM), dtype=np.float32)
    vectors[: len(used)] = text_vectors([texts[i] for i in used.tolist()], HISTORY_DIM)
    windows = number[windows]
    out: np.ndarray = np.zeros((len(windows), HISTORY_DIM), dtype=dtype)
    for start in range(0, len(windows), HISTORY_ROWS):
        window = windows[start : start + HISTORY_ROWS]
        summed = vectors[window[:, 0]]
        for place in range(1, HISTORY_WINDOW):  # in order, as `np.sum` adds them
            summed += vectors[window[:, place]]
        out[start : start + len(window)] = unit_rows(summed)
    return out


class ContextColumns:
    """Per indexed row: which task it served (`task_of` into `tasks`) and its history vector."""

    FILES = ("task_of.npy", "tasks.npy", "history.npy")

    def __init__(self, task_of: np.ndarray, tasks: np.ndarray, history: np.ndarray) -> None:
        self.task_of = task_of
        self.tasks = tasks
        self.history = history

    @classmethod
    def of_numbers(
        cls, task_of: Sequence[int], tasks: Sequence[str], windows: np.ndarray, texts: Sequence[str]
    ) -> ContextColumns:
        """From each row's task, as a number into `tasks`, and the actions before it in its
        trace, as numbers into `texts` (see `window_vectors`); tasks are numbered anew in order
        of their first row, each held once."""
        first: dict[int, int] = {}
        numbered = np.fromiter(
            (first.setdefault(t, len(first)) for t in task_of), np.int32, len(task_of)
        )
        task_rows = [task_vector(tasks[t]) for t in first] or [np.zeros(TASK_DIM, np.float32)]
        history = window_vectors(windows, texts, np.float16)  # as saved
        return cls(numbered, np.stack(task_rows), history)

    def task_scores(self, rows: np.ndarray, task: np.ndarray) -> np.ndarray:
        """Similarity of each row's task to a query's: one product per distinct task when the
        corpus has few, else one per row (with 10,000 tasks, a product with all of them cost
        2.5 ms a query)."""
        if len(self.tasks) <= len(rows):
            return (self.tasks @ task)[self.task_of[rows]]
        return self.tasks[self.task_of[rows]] @ task

    def history_scores(self, rows: np.ndarray, history: np.ndarray) -> np.ndarray:
        """A build holds histories in half precision (as saved: 512 bytes a row, not 1 KB) and
        converts the rows a query compares; a loaded model holds them converted (a step is
        quicker without the conversion). The same values either way."""
        compared = self.history[rows]
        if compared.dtype != np.float32:
            compared = compared.astype(np.float32)
        return compared @ history

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # A build holds the histories in half precision already: saved without a copy.
        half = (self.tasks.astype(np.float16), self.history.astype(np.float16, copy=False))
        arrays = (self.task_of, *half)
        for name, array in zip(self.FILES, arrays, strict=True):
            np.save(directory / name, array, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> ContextColumns:
        """Stored in half precision; held in single precision, so a lookup converts nothing."""
        try:
            task_of, tasks, history = (
                np.load(directory / name, allow_pickle=False) for name in cls.FILES
            )
        except (OSError, ValueError) as exc:
            raise StoreError(f"{directory}: cannot read the context columns ({exc})") from None
        return cls(task_of, tasks.astype(np.float32), history.astype(np.float32))

"""Deterministic train/valid/test split by trace: a SHA-256 of the trace id picks the part.

Splitting by trace (never by step) keeps a held-out run wholly unseen; the hash makes the split
identical on every machine and independent of file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wmh.config.schema import SplitConfig
from wmh.core.canonical import stable_unit_interval
from wmh.core.stored import StoredTraces, TraceRows, step_counts
from wmh.core.types import Trace
from wmh.errors import ConfigError, EmptyCorpusError

PARTS = ("train", "valid", "test")
# A corpus of this many traces or fewer is too small to hold any out: every trace is indexed.
SMALL_CORPUS = 5


@dataclass
class Split:
    """The parts, as lists of traces or, in a build, as `StoredTraces` (parsed when read)."""

    train: Sequence[Trace]
    valid: Sequence[Trace]
    test: Sequence[Trace]

    def part(self, name: str) -> Sequence[Trace]:
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]

    def sizes(self) -> dict[str, dict[str, int]]:
        return {
            name: {"traces": len(self.part(name)), "steps": sum(step_counts(self.part(name)))}
            for name in PARTS
        }


def check_fractions(train: float, valid: float, test: float) -> None:
    values = {"split.train": train, "split.valid": valid, "split.test": test}
    for key, value in values.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"{key} must be between 0 and 1, got {value}")
    if abs(train + valid + test - 1.0) > 1e-6:
        raise ConfigError(
            f"split fractions must add up to 1, got train={train} valid={valid} test={test}"
        )
    if train <= 0:
        raise ConfigError("split.train must be > 0: the index is built from the train part")


def empty_train(traces: int) -> EmptyCorpusError:
    """The error of a split whose train part is empty."""
    return EmptyCorpusError(
        f"the train split is empty: all {traces} traces went to valid/test; "
        "add traces or raise split.train"
    )


def assign_part(trace_id: str, train: float, valid: float, salt: str = "") -> str:
    """Which part a trace belongs to, from its id alone."""
    u = stable_unit_interval(trace_id, salt)
    if u < train:
        return "train"
    if u < train + valid:
        return "valid"
    return "test"


def split_numbers(
    ids: Sequence[str], train: float, valid: float, test: float, salt: str = ""
) -> dict[str, list[int]]:
    """Which traces (by position in `ids`) go to each part, by a stable hash of their id
    (order-independent; sorted by id within a part).

    A corpus of at most `SMALL_CORPUS` traces goes to train whole: it has no held-out score,
    but it builds and plays."""
    check_fractions(train, valid, test)
    parts: dict[str, list[int]] = {name: [] for name in PARTS}
    ordered = sorted(range(len(ids)), key=ids.__getitem__)
    if len(ordered) <= SMALL_CORPUS:
        parts["train"] = ordered
        return parts
    for number in ordered:
        parts[assign_part(ids[number], train, valid, salt)].append(number)
    return parts


def split_traces(
    traces: Sequence[Trace], train: float, valid: float, test: float, salt: str = ""
) -> Split:
    """Traces split as `split_numbers` says."""
    parts = split_numbers([t.trace_id for t in traces], train, valid, test, salt)
    return Split(*([traces[n] for n in parts[name]] for name in PARTS))


def split_with(traces: Sequence[Trace], config: SplitConfig) -> Split:
    """`split_traces` with the fractions and salt of a `split` config group."""
    return split_traces(traces, config.train, config.valid, config.test, config.salt)


@dataclass
class StoredSplit(Split):
    """A split whose parts are held as lines."""

    train: StoredTraces
    valid: StoredTraces
    test: StoredTraces

    def numbers(self, *parts: str) -> list[int]:
        """The traces of these parts, one part after another, by their numbers in the store."""
        return [n for part in parts for n in getattr(self, part).numbers]


def split_stored(store: TraceRows, config: SplitConfig) -> StoredSplit:
    """A build's held traces split as `split_with` would split them, each part held as lines."""
    parts = split_numbers(store.ids, config.train, config.valid, config.test, config.salt)
    return StoredSplit(*(StoredTraces(store, parts[name]) for name in PARTS))

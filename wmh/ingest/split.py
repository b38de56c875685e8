"""Deterministic train/valid/test split by trace: a SHA-256 of the trace id picks the part.

Splitting by trace (never by step) keeps a held-out run wholly unseen; the hash makes the split
identical on every machine and independent of file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wmh.config.schema import SplitConfig
from wmh.core.canonical import stable_unit_interval
from wmh.core.types import Trace
from wmh.errors import ConfigError

PARTS = ("train", "valid", "test")
# A corpus of this many traces or fewer is too small to hold any out: every trace is indexed.
SMALL_CORPUS = 5


@dataclass
class Split:
    train: list[Trace]
    valid: list[Trace]
    test: list[Trace]

    def part(self, name: str) -> list[Trace]:
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]

    def sizes(self) -> dict[str, dict[str, int]]:
        return {
            name: {
                "traces": len(self.part(name)),
                "steps": sum(len(t.steps) for t in self.part(name)),
            }
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


def assign_part(trace_id: str, train: float, valid: float, salt: str = "") -> str:
    """Which part a trace belongs to, from its id alone."""
    u = stable_unit_interval(trace_id, salt)
    if u < train:
        return "train"
    if u < train + valid:
        return "valid"
    return "test"


def split_traces(
    traces: Sequence[Trace], train: float, valid: float, test: float, salt: str = ""
) -> Split:
    """Split traces by a stable hash of their id (order-independent; sorted by id within a part).

    A corpus of at most `SMALL_CORPUS` traces goes to train whole: it has no held-out score,
    but it builds and plays."""
    check_fractions(train, valid, test)
    parts: dict[str, list[Trace]] = {name: [] for name in PARTS}
    ordered = sorted(traces, key=lambda t: t.trace_id)
    if len(ordered) <= SMALL_CORPUS:
        return Split(ordered, [], [])
    for trace in ordered:
        parts[assign_part(trace.trace_id, train, valid, salt)].append(trace)
    return Split(**parts)


def split_with(traces: Sequence[Trace], config: SplitConfig) -> Split:
    """`split_traces` with the fractions and salt of a `split` config group."""
    return split_traces(traces, config.train, config.valid, config.test, config.salt)

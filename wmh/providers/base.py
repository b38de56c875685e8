"""The provider seam: which backend answers for a world model, and how it is described."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ReplayProvider:
    """The offline provider: recorded observations only, no network, no key."""

    name: str = "replay"
    model: str = ""

    def describe(self) -> str:
        return "replay (offline, recorded observations)"

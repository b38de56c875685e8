"""wmh, the world-model harness: recorded agent traces in, a simulated environment out.

    from wmh import WorldModelStore, load_world_model
    wm, _ = load_world_model(WorldModelStore(".wmh").resolve("airline"))

Importing wmh is cheap and changes nothing in the process (no environment variables): the
world model, its loader, the store, scenarios and the HTTP client are imported on first use,
and the CLI and the build entry point set their offline defaults themselves (`wmh.offline`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wmh.core.types import (
    Action,
    ActionKind,
    EnvState,
    EpisodeScore,
    Observation,
    Session,
    Step,
    Trace,
    Turn,
    UsageTotals,
)
from wmh.errors import WmhError

if TYPE_CHECKING:
    from wmh.client import AsyncWorldModelClient, WorldModelClient
    from wmh.engine.usage import UsageRecord
    from wmh.engine.world_model import WorldModel
    from wmh.env.scenarios import Scenario, scenarios_from_traces
    from wmh.store.loader import load_world_model
    from wmh.store.store import WorldModelStore

__version__ = "0.1.0"

_LAZY = {
    "WorldModel": "wmh.engine.world_model",
    "load_world_model": "wmh.store.loader",
    "WorldModelStore": "wmh.store.store",
    "UsageRecord": "wmh.engine.usage",
    "Scenario": "wmh.env.scenarios",
    "scenarios_from_traces": "wmh.env.scenarios",
    "WorldModelClient": "wmh.client",
    "AsyncWorldModelClient": "wmh.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wmh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Action",
    "ActionKind",
    "AsyncWorldModelClient",
    "EnvState",
    "EpisodeScore",
    "Observation",
    "Scenario",
    "Session",
    "Step",
    "Trace",
    "Turn",
    "UsageRecord",
    "UsageTotals",
    "WmhError",
    "WorldModel",
    "WorldModelClient",
    "WorldModelStore",
    "__version__",
    "load_world_model",
    "scenarios_from_traces",
]

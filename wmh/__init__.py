"""wmh, the world-model harness: recorded agent traces in, a simulated environment out."""

from wmh.offline import apply_offline_defaults

apply_offline_defaults()

from wmh.core.types import (  # noqa: E402
    Action,
    ActionKind,
    EnvState,
    Observation,
    Session,
    Step,
    Trace,
    Turn,
)
from wmh.errors import WmhError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionKind",
    "EnvState",
    "Observation",
    "Session",
    "Step",
    "Trace",
    "Turn",
    "WmhError",
    "__version__",
]

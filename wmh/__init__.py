"""wmh, the world-model harness: recorded agent traces in, a simulated environment out.

Importing wmh changes nothing in the process (no environment variables): the CLI and the build
entry point set their offline defaults themselves (`wmh.offline`).
"""

from wmh.core.types import (
    Action,
    ActionKind,
    EnvState,
    Observation,
    Session,
    Step,
    Trace,
    Turn,
)
from wmh.errors import WmhError

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

"""An environment's own programmatic success check (`reward=success`): `make_success_check()` in
the `env.py` beside its traces, as each example keeps one (`examples/<task>/env.py`). The file
is loaded once per process; examples/ is not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from wmh.core.reward import RewardJudge
from wmh.errors import ConfigError


def env_module(directory: Path) -> ModuleType:
    """The `env.py` of an example (or any directory laid out like one)."""
    path = Path(directory) / "env.py"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (an example has env.py with make_real_env())")
    name = f"wmh_examples_{Path(directory).resolve().name.replace('-', '_')}_env"
    module: ModuleType | None = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def success_check(directory: Path) -> RewardJudge | None:
    """The directory's `make_success_check()`, if its env.py has one."""
    if not (Path(directory) / "env.py").is_file():
        return None
    factory = getattr(env_module(directory), "make_success_check", None)
    return factory() if factory is not None else None

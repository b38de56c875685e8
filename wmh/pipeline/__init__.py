"""The build pipeline as library functions: CLI, Hydra entry point and DVC stages call these.

`build_world_model` and `BuildResult` are loaded when first asked for: importing a light
submodule (the stage names) does not load the whole build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wmh.pipeline.build import BuildResult, build_world_model

__all__ = ["BuildResult", "build_world_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from wmh.pipeline import build

        return getattr(build, name)
    raise AttributeError(f"module 'wmh.pipeline' has no attribute {name!r}")

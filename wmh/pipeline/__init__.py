"""The build pipeline as library functions: CLI, Hydra entry point and DVC stages call these."""

from wmh.pipeline.build import BuildResult, build_world_model

__all__ = ["BuildResult", "build_world_model"]

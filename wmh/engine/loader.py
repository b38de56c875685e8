"""`wmh.engine.loader.load_world_model`, the public path DESIGN.md documents: a re-export of the
loader, which lives with the rest of the model directory's knowledge in `wmh.store.loader`."""

from wmh.store.loader import load_world_model

__all__ = ["load_world_model"]

"""`wmh.config.store.WorldModelStore`, the public path DESIGN.md documents: a re-export of the
model store, which lives with the rest of the model directory's knowledge in `wmh.store`."""

from wmh.store.card import read_card
from wmh.store.store import WorldModelStore, check_model_name

__all__ = ["WorldModelStore", "check_model_name", "read_card"]

"""Configuration: the Hydra structured configs and their composition, the bottom of wmh's layers
(the model store is `wmh.store`; `wmh.config.store` re-exports it under its public path)."""

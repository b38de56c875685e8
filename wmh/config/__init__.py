"""Configuration (Hydra structured configs) and the model store."""

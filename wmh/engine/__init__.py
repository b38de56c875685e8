"""The engine: world models, sessions, predictors and the prompts they use."""

"""The engine: world models, sessions, predictors (the protocol, replay, llm and the factory that
picks one), the prompts they use, and usage accounting."""

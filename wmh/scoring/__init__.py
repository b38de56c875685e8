"""Scoring: observation judges (a prediction against the recorded observation), reward judges
(an episode against its task), and the held-out evaluation runner with its baselines, below
the packages that score things (optimize, env, eval, pipeline)."""

"""Optimisation and scoring: judges that grade predictions (and, later, the GEPA adapter)."""

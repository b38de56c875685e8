"""Evaluation: how faithfully a world model reproduces recorded steps it has not seen."""

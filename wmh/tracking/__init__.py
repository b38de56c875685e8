"""Experiment tracking with MLflow: runs for builds and evaluations, never holding secrets."""

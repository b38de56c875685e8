"""Serving: the FastAPI backend, session stores, and the BentoML service."""

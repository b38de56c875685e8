"""Serving: the FastAPI backend (`app`, with `registry`, `schemas`, `step`, `auth`, `problems`),
how it runs (`settings`, `workers`), session stores, the BentoML service and the MCP server."""

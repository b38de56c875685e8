"""Swagger UI's files for `/docs`, served from an installed package so the page renders with no
internet (FastAPI's default loads them from a CDN). BentoML, a dependency, ships them; litellm too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS_ASSETS = "/docs-assets"
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
# (package, folder inside it): found without importing the package.
PLACES = (("bentoml", "_internal/server/static_content"), ("litellm", "proxy/swagger"))


def swagger_assets_dir() -> Path | None:
    """The first installed folder that holds both files, or None (then `/docs` uses the CDN)."""
    for package, folder in PLACES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / folder
            if all((candidate / name).is_file() for name in FILES):
                return candidate
    return None

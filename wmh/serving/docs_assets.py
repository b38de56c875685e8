"""Swagger UI's and ReDoc's files for `/docs` and `/redoc`, served from an installed package so
the pages render with no internet (FastAPI's defaults load them from a CDN). The package is
`fastapi-offline`, a dependency that ships exactly these files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS_ASSETS = "/docs-assets"
FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
PLACE = ("fastapi_offline", "static")  # (package, folder inside it), found without importing it


def docs_assets_dir() -> Path | None:
    """The installed folder that holds every file, or None (then the pages use the CDN)."""
    package, folder = PLACE
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / folder
        if all((candidate / name).is_file() for name in FILES):
            return candidate
    return None

"""`/docs` renders with no internet: Swagger UI's files come from an installed package."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from wmh.config.schema import ServeConfig
from wmh.serving.app import create_app
from wmh.serving.docs_assets import swagger_assets_dir
from wmh.serving.registry import load_registry


def test_docs_load_swagger_ui_from_the_server_itself(built_model: Path) -> None:
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    assets = swagger_assets_dir()
    assert assets is not None  # bentoml, a dependency, ships them
    with TestClient(create_app(registry)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/docs-assets/swagger-ui-bundle.js" in page.text
        assert "/docs-assets/swagger-ui.css" in page.text
        assert "http" not in page.text.replace("/openapi.json", "")  # nothing from a CDN
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith(
            "text/javascript"
        )
        assert script.content == (assets / "swagger-ui-bundle.js").read_bytes()
        assert client.get("/docs-assets/swagger-ui.css").status_code == 200
        assert client.get("/docs-assets/..%2Fservice.py").status_code == 404
        assert client.get("/docs-assets/other.js").status_code == 404

"""`/docs` and `/redoc` render with no internet: Swagger UI's and ReDoc's files come from an
installed package (fastapi-offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from wmh.config.schema import ServeConfig
from wmh.serving.app import create_app
from wmh.serving.docs_assets import docs_assets_dir
from wmh.serving.registry import load_registry


def test_docs_load_swagger_ui_from_the_server_itself(built_model: Path) -> None:
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    assets = docs_assets_dir()
    assert assets is not None  # fastapi-offline, a dependency, ships them
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


def test_redoc_loads_its_script_from_the_server_itself(built_model: Path) -> None:
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    assets = docs_assets_dir()
    assert assets is not None
    with TestClient(create_app(registry)) as client:
        page = client.get("/redoc")
        assert page.status_code == 200
        assert "/docs-assets/redoc.standalone.js" in page.text
        assert "fonts.googleapis" not in page.text and "cdn.jsdelivr" not in page.text
        script = client.get("/docs-assets/redoc.standalone.js")
        assert script.status_code == 200
        assert script.content == (assets / "redoc.standalone.js").read_bytes()


def test_the_docs_files_need_no_token_when_the_routes_do(built_model: Path) -> None:
    """With a token set, the page's own files are fetched by the browser's <script> and <link>
    tags, which send no Authorization header: they were refused 401 and the page stayed blank.
    Only they are open: `/docs` itself, and what is not one of them, still need the token."""
    registry = load_registry(built_model.parents[1], [], ServeConfig())
    with TestClient(create_app(registry, token="docs-token-7")) as client:
        assert client.get("/docs").status_code == 401
        page = client.get("/docs", headers={"Authorization": "Bearer docs-token-7"})
        assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            assert client.get(f"/docs-assets/{name}").status_code == 200, name
        assert client.get("/docs-assetsX/swagger-ui.css").status_code == 401
        assert client.get("/world_models").status_code == 401

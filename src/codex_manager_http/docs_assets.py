"""The docs UI (`/api/docs`, Swagger UI) served from this machine, so that it works offline.

Litestar's Swagger plugin loads its script, style sheet and favicon from public CDNs by
default; a local-first server must not need the internet to show its own API. The files
come from the `openapi-ui-bundles` package (a runtime dependency with no dependencies of
its own, about 1 MB: Swagger UI 5, which renders OpenAPI 3.1), which ships Swagger UI's
distribution files; we serve them as static files under `/api/docs/assets/`. The package is
located, not imported: nothing of it needs to run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_PATH: Final = "/api/docs/assets"
_PACKAGE: Final = "openapi_ui_bundles"


def swagger_ui_dir() -> Path:
    """The directory holding Swagger UI's distribution files."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise RuntimeError(
            "the openapi-ui-bundles package is missing (a dependency of codex-manager): "
            "reinstall codex-manager"
        )
    return Path(locations[0]) / "swagger_ui" / "vendor"


def docs_render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at the OpenAPI path's root (`/api/docs`), with local assets only."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def docs_assets_router() -> Router:
    """GET /api/docs/assets/<file>: Swagger UI's files (not in the OpenAPI document)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_dir()],
        name="docs-assets",
        include_in_schema=False,
        # The files change only with the package: let the browser keep them for a day.
        cache_control=CacheControlHeader(max_age=86400),
    )

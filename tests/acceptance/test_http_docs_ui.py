"""Issue 7.7: the docs UI (`/api/docs`) works offline. Its page references only this
server's own URLs, and each of them answers 200 with the right content type (Swagger UI's
files, from the openapi-ui-bundles package). On real uvicorn + the real codex binary."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from tests.acceptance.http_fixtures import running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

_REFERENCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


async def test_the_docs_ui_loads_only_local_assets(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        with anyio.fail_after(30):
            page = await host.http.get("/api/docs")
        assert page.status_code == 200, page.text[:300]
        assert page.headers["content-type"].startswith("text/html"), page.headers
        html = page.text
        assert "SwaggerUIBundle" in html
        references = _REFERENCE.findall(html)
        assert len(references) >= 4, references  # css, two scripts, the favicon
        assert not re.search(r"jsdelivr|unpkg|cdnjs", html, re.IGNORECASE), html[:2000]
        for reference in references:
            assert reference.startswith("/"), reference
            assert not reference.startswith("//"), reference
            with anyio.fail_after(30):
                asset = await host.http.get(reference)
            assert asset.status_code == 200, f"{reference}: {asset.status_code}"
            suffix = Path(reference).suffix
            expected = _CONTENT_TYPES[suffix]
            assert asset.headers["content-type"].startswith(expected), (
                reference,
                asset.headers["content-type"],
            )
            assert len(asset.content) > 100, reference
        bundle = next(ref for ref in references if ref.endswith("swagger-ui-bundle.js"))
        assert "SwaggerUIBundle" in (await host.http.get(bundle)).text
        # Unknown assets are a 404, not a directory listing or a 500.
        missing = await host.http.get("/api/docs/assets/no-such-file.js")
        assert missing.status_code == 404, missing.text
        traversal = await host.http.get("/api/docs/assets/..%2f..%2fpyproject.toml")
        assert traversal.status_code == 404, traversal.text

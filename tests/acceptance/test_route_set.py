"""Acceptance 1: the app serves exactly the contract's routes, each one documented.

- the HTTP route set (method + path, parameters normalised) EQUALS tests/acceptance/routes.tsv
  (the original's whole route list plus ours);
- `/api/stream` is a WebSocket route;
- `GET /api/openapi.json` (from a running server) has an operation for every HTTP route of
  the list but itself, each with a 2xx response that has a content schema.

The runtime behind the app is FakeAppServer: only the app's shape is under test here.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar

from codex_manager_core import Manager
from codex_manager_core.runtime.stdio import StdioTransport
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeAppServer
from codex_manager_http.app import create_app
from codex_manager_http.serve import running_server
from codex_manager_http.settings import ServerSettings
from tests.acceptance.contract_routes import (
    app_http_routes,
    app_websocket_paths,
    contract_routes,
    http_routes,
    normalize,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@asynccontextmanager
async def fake_app() -> AsyncIterator[Litestar]:
    transport = StdioTransport(FakeAppServer().command())
    async with Manager.open(store=MemoryStore(), transport=transport) as manager:
        yield create_app(manager, ServerSettings())


def _listing(keys: set[tuple[str, str]]) -> str:
    return "\n".join(
        f"    {method:6} {path}" for method, path in sorted(keys, key=lambda k: (k[1], k[0]))
    )


async def test_http_route_set_equals_the_contract() -> None:
    async with fake_app() as app:
        served = app_http_routes(app)
    expected = {route.key for route in http_routes()}
    missing = expected - served.keys()
    extra = served.keys() - expected
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} contract route(s) the app does not serve:\n{_listing(missing)}"
        )
    if extra:
        problems.append(
            f"{len(extra)} route(s) the app serves that are not in tests/acceptance/routes.tsv "
            f"(add them to the contract, or remove them):\n{_listing(extra)}"
        )
    assert not problems, "\n".join(problems)
    assert len(served) == len(expected) == len(http_routes()), "duplicate rows in routes.tsv"


async def test_stream_is_a_websocket_route() -> None:
    async with fake_app() as app:
        websockets = app_websocket_paths(app)
        served = app_http_routes(app)
    expected = {normalize(r.path) for r in contract_routes() if r.kind == "websocket"}
    assert expected == {"/api/stream"}
    assert websockets == expected, (
        f"WebSocket routes: {sorted(websockets)}, expected {sorted(expected)}"
    )
    assert not any(path == "/api/stream" for _, path in served), "/api/stream is also an HTTP route"


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE") and isinstance(
                operation, dict
            ):
                found[(method.upper(), normalize(path))] = operation
    return found


def _has_success_schema(operation: dict[str, Any]) -> bool:
    for status, response in operation.get("responses", {}).items():
        if not str(status).startswith("2"):
            continue
        for media in (response.get("content") or {}).values():
            if isinstance(media, dict) and media.get("schema"):
                return True
    return False


async def test_openapi_documents_every_route() -> None:
    async with (
        fake_app() as app,
        running_server(app) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30.0) as http,
    ):
        response = await http.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert str(document.get("openapi", "")).startswith("3."), document.get("openapi")
    operations = _operations(document)
    undocumented = []
    no_schema = []
    for route in http_routes():
        if route.path == "/api/openapi.json":
            continue
        operation = operations.get(route.key)
        if operation is None:
            undocumented.append(route.key)
        elif not _has_success_schema(operation):
            no_schema.append(route.key)
    # Every write can meet a full disk: 507 is documented wherever the method writes.
    without_507 = [
        key
        for key, operation in operations.items()
        if key[0] not in ("GET", "HEAD") and "507" not in operation.get("responses", {})
    ]
    problems = []
    if without_507:
        problems.append(f"{len(without_507)} write(s) without 507:\n{_listing(set(without_507))}")
    if undocumented:
        problems.append(
            f"{len(undocumented)} route(s) without an OpenAPI operation:\n{_listing(set(undocumented))}"
        )
    if no_schema:
        problems.append(
            f"{len(no_schema)} operation(s) without a 2xx response content schema:\n"
            f"{_listing(set(no_schema))}"
        )
    assert not problems, "\n".join(problems)


def test_every_route_module_is_in_the_route_list() -> None:
    """`routes/__init__.py` lists the route modules by import: a module whose `ROUTES` is
    not in `ROUTE_HANDLERS` would be served by no one, and a handler listed twice would be
    registered twice."""
    import codex_manager_http.routes as routes_package

    listed = routes_package.ROUTE_HANDLERS
    assert len({id(handler) for handler in listed}) == len(listed), "a handler listed twice"
    forgotten = []
    for info in pkgutil.iter_modules(routes_package.__path__):
        module = importlib.import_module(f"{routes_package.__name__}.{info.name}")
        for handler in getattr(module, "ROUTES", []):
            if not any(handler is known for known in listed):
                forgotten.append(f"{info.name}.{handler}")
    assert not forgotten, f"route modules' handlers missing from ROUTE_HANDLERS: {forgotten}"


async def test_routes_declare_their_parameters_explicitly() -> None:
    """Every path, query and body parameter has its marker (FromPath, QueryParameter,
    JSONBody...): building the app and its OpenAPI document warns of no deprecation. (The
    pytest configuration also turns Litestar's deprecations into errors everywhere.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with fake_app() as app:
            app.openapi_schema.to_schema()
    deprecations = sorted(
        {str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)}
    )
    assert not deprecations, "deprecated declarations:\n" + "\n".join(deprecations)

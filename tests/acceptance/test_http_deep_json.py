"""Issue 7.4: JSON nested a thousand levels deep used to be a 500 (RecursionError) on every
JSON-body route. Every route that takes a body (read from the server's own OpenAPI
document, checked against the contract's list) now answers 400 `invalid_request` naming
the nesting, writes nothing and keeps serving. On real uvicorn + the real codex binary.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import anyio
import pytest
from litestar.handlers import HTTPRouteHandler

from codex_manager_http.routes import ROUTE_HANDLERS
from codex_manager_http.validation import MAX_JSON_DEPTH
from tests.acceptance.contract_routes import http_routes, normalize
from tests.acceptance.http_fixtures import running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TIMEOUT = 30.0
JSON = {"content-type": "application/json"}
_PARAM = re.compile(r"\{[^}]*\}")


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def handlers_with_a_body() -> set[tuple[str, str]]:
    return {
        (method, normalize(path))
        for handler in ROUTE_HANDLERS
        if isinstance(handler, HTTPRouteHandler)
        and "data" in inspect.signature(handler.fn).parameters
        for method in handler.http_methods
        for path in handler.paths
    }


def deep_bodies() -> dict[str, bytes]:
    depth = 1000
    return {
        "an array 1000 deep": b"[" * depth + b"]" * depth,
        "objects 1000 deep": b'{"a":' * depth + b"1" + b"}" * depth,
        "a field 1000 deep": b'{"value": ' + b"[" * depth + b"]" * depth + b"}",
        "brackets that never close": b"[" * depth,
        "a field whose brackets never close": b'{"value": ' + b"[" * depth,
        "one level too deep": b'{"value": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
    }


async def test_deeply_nested_json_is_a_400_on_every_json_route(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        document = (await host.http.get("/api/openapi.json")).json()
        routes = sorted(
            (method.upper(), path)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if isinstance(operation, dict) and "requestBody" in operation
        )
        # Every handler that takes a body is in that list, and only contract routes are.
        documented = {(method, normalize(path)) for method, path in routes}
        assert documented == handlers_with_a_body(), documented ^ handlers_with_a_body()
        assert documented <= {(route.method, normalize(route.path)) for route in http_routes()}
        seq_before = (await host.http.get("/api/events", params={"limit": 1})).json()["lastSeq"]
        failures: list[str] = []
        for method, path in routes:
            url = _PARAM.sub("no-such-id", path)
            for label, body in deep_bodies().items():
                with anyio.fail_after(TIMEOUT):
                    response = await host.http.request(method, url, content=body, headers=JSON)
                answer = response.json() if response.status_code < 500 else response.text
                if (
                    response.status_code != 400
                    or answer.get("code") != "invalid_request"
                    # (Unclosed brackets are malformed too: either message will do.)
                    or (
                        "nested more than" not in answer.get("message", "") and "close" not in label
                    )
                ):
                    failures.append(
                        f"{method} {path} with {label}: {response.status_code} {answer}"
                    )
        assert not failures, f"{len(failures)} wrong answer(s):\n" + "\n".join(failures[:40])
        # Nothing was written, and the server still serves.
        after = (await host.http.get("/api/events", params={"limit": 1})).json()["lastSeq"]
        assert after == seq_before
        assert (await host.http.get("/api/health")).status_code == 200
        # A body as deep as allowed is served (the unknown field is ignored).
        inner = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
        at_limit = '{"name": "Deep", "extra": ' + inner + "}"
        response = await host.http.post("/api/projects", content=at_limit, headers=JSON)
        assert response.status_code == 200, response.text

"""The contract's route list (tests/acceptance/routes.tsv) and how to compare it with an app.

Paths are compared with their parameters normalised to `{}`: the list uses the original's
names (`{sessionId}`), Litestar its own (`{session_id:str}`).
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from litestar import Litestar
from litestar.routes import HTTPRoute, WebSocketRoute

ROUTES_FILE = Path(__file__).with_name("routes.tsv")
_PARAM = re.compile(r"\{[^}]*\}")
#: The docs UI Litestar serves under the OpenAPI path: not part of the contract.
DOCS_PREFIX = "/api/docs"


def normalize(path: str) -> str:
    """`/api/sessions/{session_id:str}` -> `/api/sessions/{}`."""
    return _PARAM.sub("{}", path)


@attrs.frozen
class ContractRoute:
    method: str
    path: str
    kind: str
    """`http` or `websocket`."""
    summary: str

    @property
    def key(self) -> tuple[str, str]:
        return self.method, normalize(self.path)

    def url(self, dummy: str = "no-such-id") -> str:
        """The path with every parameter filled with `dummy`."""
        return _PARAM.sub(dummy, self.path)


def contract_routes() -> list[ContractRoute]:
    routes = []
    for line in ROUTES_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("method\t"):
            continue
        method, path, kind, summary = line.split("\t")
        assert kind in ("http", "websocket"), f"routes.tsv: bad kind {kind!r} in {line!r}"
        routes.append(ContractRoute(method, path, kind, summary))
    return routes


def http_routes() -> list[ContractRoute]:
    return [route for route in contract_routes() if route.kind == "http"]


def app_http_routes(app: Litestar) -> dict[tuple[str, str], str]:
    """(method, normalised path) -> the app's own path, for every HTTP handler of `app`
    (without the automatic OPTIONS and the docs UI)."""
    served: dict[tuple[str, str], str] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(DOCS_PREFIX):
            continue
        for method in route.methods:
            if method != "OPTIONS":
                served[(method, normalize(route.path))] = route.path
    return served


def app_websocket_paths(app: Litestar) -> set[str]:
    return {normalize(route.path) for route in app.routes if isinstance(route, WebSocketRoute)}

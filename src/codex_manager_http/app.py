"""`create_app(manager, settings)`: the Litestar application over an embedded Manager.

Handlers are thin (routes/): they parse the request, call one Manager method and shape the
answer with one function of wire/, the original Codex Manager's JSON shapes. No domain logic
lives here.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag

from codex_manager_core import Manager, __version__
from codex_manager_http.auth import token_middleware
from codex_manager_http.docs_assets import docs_assets_router, docs_render_plugin
from codex_manager_http.errors import EXCEPTION_HANDLERS
from codex_manager_http.guard import GuardPolicy, guard_middleware
from codex_manager_http.host import (
    HostDep,
    HostState,
    ManagerDep,
    host_state,
    manager_dependency,
)
from codex_manager_http.metrics import Metrics, metrics_middleware
from codex_manager_http.openapi import TypedDictSchemaPlugin, document_errors
from codex_manager_http.routes import ROUTE_HANDLERS
from codex_manager_http.settings import ServerSettings
from codex_manager_http.validation import strict_json_body
from codex_manager_http.wire.common import ErrorBody

#: `HostState` and the dependency types were defined here; their home is `host.py`.
__all__ = ["HostDep", "HostState", "ManagerDep", "create_app"]

logger = logging.getLogger("codex_manager_http")


def create_app(
    manager: Manager,
    settings: ServerSettings | None = None,
    *,
    demo: dict[str, Any] | None = None,
) -> Litestar:
    """The HTTP/WebSocket application for `manager` (which the caller opened and closes)."""
    settings = settings or ServerSettings()
    host = HostState(manager, settings, Metrics(), demo=demo)
    security: list[dict[str, list[str]]] = [{"bearer": []}] if settings.token else []
    policy = GuardPolicy.from_lists(settings.host, settings.allowed_hosts, settings.allowed_origins)
    app = Litestar(
        route_handlers=[*ROUTE_HANDLERS, docs_assets_router()],
        dependencies={
            "manager": Provide(manager_dependency, sync_to_thread=False),
            "host": Provide(host_state, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_json_body,
        request_max_body_size=settings.body_limit,
        openapi_config=OpenAPIConfig(
            title="codex-manager",
            version=__version__,
            description=(
                "A local-first control plane for the Codex runtime. Wire-compatible with the "
                "original Codex Manager's /api, plus seq/replay on the event stream, "
                "/api/events, a paginated transcript, /api/metrics and bearer-token auth. "
                "Request bodies must be JSON (`Content-Type: application/json`; 415 "
                "otherwise); a browser page may change state or open the WebSocket only from "
                "the server's own origin or an allowed one, and only allowed Host names are "
                "served (403 otherwise; see docs/security.md)."
            ),
            path="/api/docs",
            render_plugins=[docs_render_plugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="The server token"
                    )
                }
            ),
            security=security or None,
            tags=[
                Tag(name=name)
                for name in (
                    "system",
                    "discovery",
                    "config",
                    "account",
                    "projects",
                    "sessions",
                    "controls",
                    "requests",
                    "events",
                    "jobs",
                    "extensions",
                )
            ],
        ),
        plugins=[TypedDictSchemaPlugin()],
        debug=False,
        # Logging is configured once, by the process (logging_setup.py): Litestar's default
        # config would install its own handler and format on the root logger.
        logging_config=None,
    )
    app.state.host = host
    document_errors(app, ErrorBody)
    # Around the whole handler, not as route middleware: Litestar runs route middleware only
    # for matched routes, and an unknown path must get 401 too (and be counted). The browser
    # defences (guard.py) come first: a page's request is refused whatever it asks for.
    handler: Any = metrics_middleware(host.metrics)(app.asgi_handler)
    if settings.token:
        handler = token_middleware(settings.token)(handler)
    app.asgi_handler = guard_middleware(policy)(handler)
    return app

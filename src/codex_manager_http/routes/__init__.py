"""Route handlers, one module per domain, and `ROUTE_HANDLERS`: every handler of the app.

The list is explicit: a module that is missing or broken is an ImportError when the app is
built, not a route that silently is not served. To add a route, write its handler in the
domain's module (its shapes in `wire/<domain>.py`) and add it to that module's `ROUTES`; a
new domain module is imported and listed here.
"""

from typing import Any

from codex_manager_http.routes import (
    account,
    config,
    controls,
    discovery,
    extensions,
    jobs,
    projects,
    requests,
    session_actions,
    sessions,
    stream,
    suggestions,
    system,
    transcript,
    turns,
)

#: Every handler, in the order they are registered (the OpenAPI document lists them so).
ROUTE_HANDLERS: list[Any] = [
    *system.ROUTES,
    *discovery.ROUTES,
    *config.ROUTES,
    *account.ROUTES,
    *projects.ROUTES,
    *sessions.ROUTES,
    *transcript.ROUTES,
    *session_actions.ROUTES,
    *turns.ROUTES,
    *controls.ROUTES,
    *requests.ROUTES,
    *jobs.ROUTES,
    *extensions.ROUTES,
    *suggestions.ROUTES,
    *stream.ROUTES,
]

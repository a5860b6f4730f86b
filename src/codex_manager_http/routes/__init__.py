"""Route handlers, one module per domain. `ROUTE_HANDLERS` is every handler of the app."""

import importlib
from typing import Any

#: Modules holding a `ROUTES` list, in the order they are registered.
ROUTE_MODULES = (
    "system",
    "discovery",
    "config",
    "account",
    "projects",
    "sessions",
    "controls",
    "requests",
    "stream",
)


def _collect() -> list[Any]:
    handlers: list[Any] = []
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue  # not written yet
        handlers.extend(module.ROUTES)
    return handlers


ROUTE_HANDLERS = _collect()

"""What every handler may take: the host's shared state and the two dependencies.

Its own module so that route modules and `app.py` both import it and neither imports the
other (the routes once took `ManagerDep` from `app.py`, which imported the routes).
"""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import attrs
from litestar import Request
from litestar.di import NamedDependency

from codex_manager_core import Manager
from codex_manager_http.metrics import Metrics
from codex_manager_http.settings import ServerSettings


@attrs.define
class HostState:
    """What handlers share: the manager, the settings and the host's own counters."""

    manager: Manager
    settings: ServerSettings
    metrics: Metrics
    started_at: float = attrs.Factory(time.time)
    demo: dict[str, Any] | None = None
    """Set in demo mode: what the scripted model is and does."""
    """Refreshed in the background (counting rows is too slow for every health call)."""


#: Handler parameter types for the two dependencies every route may take.
ManagerDep: TypeAlias = NamedDependency[Manager]
HostDep: TypeAlias = NamedDependency[HostState]


def host_state(request: Request[Any, Any, Any]) -> HostState:
    state: HostState = request.app.state.host
    return state


def manager_dependency(host: HostDep) -> Manager:
    # Through `host`, not from the request: two independent dependencies of one handler
    # (`manager` and `host`, e.g. /api/health) make Litestar resolve them in a task group,
    # two tasks per request, which costs more than the handler itself.
    return host.manager

"""Extension lifecycle routes (the original's section 1.15): the inventory and the strict,
atomic reload, behind the RBAC of rbac.py. Thin adapters over `manager.extensions`; the
shapes are in `wire/extensions.py`. Every reload attempt is audited by the Manager (success,
failed) or here (forbidden: `record_denied`) with the actor, role and request origin.
"""

import logging
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec

from codex_manager_core.errors import Conflict, ReloadFailed
from codex_manager_http.host import HostDep, ManagerDep
from codex_manager_http.rbac import LIST_ROLES, RELOAD_ROLES, Denied, authorize
from codex_manager_http.routes.common import error_responses
from codex_manager_http.wire import extensions as wire

logger = logging.getLogger("codex_manager_http")

_DENIED = {
    401: ResponseSpec(
        data_container=wire.RbacDenied,
        description="RBAC: missing or invalid credentials (header secret, role, JWT)",
    ),
    403: ResponseSpec(
        data_container=wire.RbacDenied,
        description="RBAC: remote caller with RBAC disabled, invalid role claim, or "
        "insufficient_role",
    ),
}


def _origin(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "userAgent": request.headers.get("user-agent"),
    }


def _denied(denied: Denied) -> Response[Any]:
    return Response(denied.body(), status_code=denied.status_code)


@get(
    "/api/agents/extensions",
    tags=["extensions"],
    summary="List loaded agent extensions and runtime snapshot info",
    cache=False,
    responses={**_DENIED, 400: error_responses(400)[400]},
)
async def list_extensions(
    request: Request[Any, Any, Any], manager: ManagerDep, host: HostDep
) -> Response[wire.Inventory]:
    """The loaded snapshot's version and time, one inventory entry per module, and what
    the lenient first load skipped. Roles: member, admin, owner, system."""
    client = request.client.host if request.client else None
    caller = authorize(host.settings, request.headers, client, LIST_ROLES)
    if isinstance(caller, Denied):
        return _denied(caller)
    return Response(wire.inventory(manager.extensions.snapshot()))


@post(
    "/api/agents/extensions/reload",
    tags=["extensions"],
    summary="Reload agent extensions",
    status_code=200,
    responses={
        **_DENIED,
        400: ResponseSpec(
            data_container=wire.ReloadFailedBody,
            description="reload_failed: an extension did not load; the previous snapshot "
            "stays (errors name each one)",
        ),
        409: ResponseSpec(
            data_container=wire.ReloadFailedBody,
            description="reload_in_progress: another reload is running",
        ),
    },
)
async def reload_extensions(
    request: Request[Any, Any, Any], manager: ManagerDep, host: HostDep
) -> Response[wire.Reloaded]:
    """Rediscover and reload every extension, strictly and atomically: any failure keeps
    the previous snapshot (400 reload_failed). Roles: admin, owner, system. Every attempt
    (success, failed, forbidden) is audited with the actor, role and request origin. A
    body, if any, is ignored (the original took `{}`)."""
    reload_id = str(uuid.uuid4())
    origin = _origin(request)
    extensions = manager.extensions
    caller = authorize(host.settings, request.headers, origin["ip"], RELOAD_ROLES)
    if isinstance(caller, Denied):
        await extensions.record_denied(
            actor=caller.actor or "unknown",
            role=caller.role or "unknown",
            origin=origin,
            reason=caller.code,
            reload_id=reload_id,
        )
        return _denied(caller)
    actor = caller.actor or "unknown"
    logger.info("extension reload %s requested by %s (%s)", reload_id, actor, caller.role)
    try:
        snapshot = await extensions.reload(
            actor=actor, role=caller.role, origin=origin, reload_id=reload_id
        )
    except ReloadFailed as exc:
        body = wire.reload_failed(
            exc.code, reload_id, exc.message, extensions.snapshot().version, exc.diagnostics
        )
        return Response(body, status_code=400)  # type: ignore[arg-type]
    except Conflict as exc:
        if exc.code != "reload_in_progress":
            raise
        body = wire.reload_failed(
            exc.code, reload_id, exc.message, extensions.snapshot().version, []
        )
        return Response(body, status_code=409)  # type: ignore[arg-type]
    return Response(wire.reloaded(reload_id, snapshot))


ROUTES = [list_extensions, reload_extensions]

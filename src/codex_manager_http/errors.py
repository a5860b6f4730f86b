"""The Manager's typed errors as the original API's status codes and bodies.

Bodies keep the original's shapes (`{status: "error", code, ...}`, `{status: "not_found"}`,
`{status: "deleted", sessionId, title, message, deletedAt}`, `{status: "locked"}`) and add a
`message` that says what to do.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.params import ParameterKwarg
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_423_LOCKED,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_501_NOT_IMPLEMENTED,
    HTTP_502_BAD_GATEWAY,
    HTTP_503_SERVICE_UNAVAILABLE,
    HTTP_504_GATEWAY_TIMEOUT,
    HTTP_507_INSUFFICIENT_STORAGE,
)

from codex_manager_core import errors as core
from codex_manager_core.serde import iso

logger = logging.getLogger("codex_manager_http")

_STATUS: dict[type[core.ManagerError], int] = {
    core.InvalidInput: HTTP_400_BAD_REQUEST,
    core.NotFound: HTTP_404_NOT_FOUND,
    core.Gone: HTTP_410_GONE,
    core.Forbidden: HTTP_403_FORBIDDEN,
    core.Conflict: HTTP_409_CONFLICT,
    core.InvalidState: HTTP_409_CONFLICT,
    core.Locked: HTTP_423_LOCKED,
    core.QueueFull: HTTP_429_TOO_MANY_REQUESTS,
    core.MethodNotSupported: HTTP_501_NOT_IMPLEMENTED,
    core.StoreUnavailable: HTTP_507_INSUFFICIENT_STORAGE,
}
#: By code, where the class alone does not say. `codex_auth_required` (codex is not logged
#: in) is the runtime's state, so 409 as the original answered it, never the 401 of a
#: missing server token (`auth_required`, with WWW-Authenticate: auth.py); `codex_error` is
#: a failure of the runtime, i.e. upstream: 502, not an internal error of ours. A settings
#: document over its bound is 413 (it names the limit).
_BY_CODE: dict[str, int] = {
    "codex_auth_required": HTTP_409_CONFLICT,
    "codex_timeout": HTTP_504_GATEWAY_TIMEOUT,
    "timeout": HTTP_504_GATEWAY_TIMEOUT,
    "codex_error": HTTP_502_BAD_GATEWAY,
    "settings_too_large": HTTP_413_REQUEST_ENTITY_TOO_LARGE,
}


def error_body(status: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "code": code, "message": message, **extra}


def manager_error_response(exc: core.ManagerError) -> Response[Any]:
    """The response for a Manager error (also used by routes that need a custom shape)."""
    status_code = _BY_CODE.get(exc.code) or next(
        (code for kind, code in _STATUS.items() if isinstance(exc, kind)),
        HTTP_500_INTERNAL_SERVER_ERROR,
    )
    if isinstance(exc, core.Gone):
        body = {
            "status": "deleted",
            "code": "deleted",
            "sessionId": exc.session_id,
            "title": exc.title,
            "message": exc.message,
            "deletedAt": iso(exc.deleted_at)
            if hasattr(exc.deleted_at, "isoformat")
            else exc.deleted_at,
        }
    elif isinstance(exc, core.NotFound):
        body = error_body("not_found", exc.code, exc.message)
    elif isinstance(exc, core.Locked):
        body = error_body("locked", exc.code, exc.message)
    elif isinstance(exc, core.InvalidInput):
        message, issues = wire_names(exc.message, exc.issues)
        body = error_body("error", exc.code, message, issues=issues)
    elif isinstance(exc, core.StoreUnavailable):
        body = error_body(
            "error",
            exc.code,
            exc.message,
            dataDir=exc.location,
            reason=exc.reason,
            failingSince=None if exc.since is None else iso(datetime.fromtimestamp(exc.since, UTC)),
            heldEvents=exc.held_events,
        )
    else:
        body = error_body("error", exc.code, exc.message)
        if exc.details is not None:
            body["details"] = exc.details
    return Response(body, status_code=status_code)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_names(message: str, issues: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The core names a bad argument by its Python name (`dynamic_tools[2]`); a client of
    the API sent `dynamicTools`: its issue paths and message say the contract's name."""
    wired = []
    for issue in issues:
        path = issue.get("path")
        if isinstance(path, list) and path and isinstance(path[0], str) and "_" in path[0]:
            name, camel = path[0], _camel(path[0])
            message = re.sub(rf"\b{re.escape(name)}\b", camel, message)
            issue = {**issue, "path": [camel, *path[1:]]}
        wired.append(issue)
    return message, wired


def handle_manager_error(request: Request[Any, Any, Any], exc: core.ManagerError) -> Response[Any]:
    response = manager_error_response(exc)
    # Like the original, echo the route's ids (`{status: "not_found", sessionId}`).
    body = response.content
    if isinstance(body, dict):
        for name, value in request.path_params.items():
            body.setdefault(_camel(name), value)
    return response


def handle_runtime_unavailable(
    request: Request[Any, Any, Any], exc: core.RuntimeUnavailable
) -> Response[Any]:
    """503; `Retry-After` only when waiting helps (not for a failed runtime that is not
    retried by itself: the message says how to restart it)."""
    retry_after = getattr(exc, "retry_after", 1.0)
    return Response(
        error_body("error", "runtime_unavailable", str(exc)),
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))},
    )


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _wire_name(request: Request[Any, Any, Any], name: str) -> str:
    """The name a client uses for handler parameter `name` (`include_layers` is the query
    parameter `includeLayers`)."""
    parameters = getattr(
        getattr(request.route_handler, "parsed_fn_signature", None), "parameters", {}
    )
    kwarg = getattr(parameters.get(name), "kwarg_definition", None)
    if isinstance(kwarg, ParameterKwarg) and kwarg.name:
        return kwarg.name
    return name


def _issue(request: Request[Any, Any, Any], item: dict[str, Any]) -> dict[str, Any]:
    """One Litestar/msgspec validation error as `{path, message, source}` with a zod-like
    path (`edits[0].keyPath` -> ["edits", 0, "keyPath"]; the body itself is `[]`)."""
    key = str(item.get("key") or "")
    message = str(item.get("message", "invalid"))
    source = item.get("source")
    path: list[str | int] = [
        name if name else int(index) for name, index in _PATH_PART.findall(key)
    ]
    if source != "body" and path and isinstance(path[0], str):
        path[0] = _wire_name(request, path[0])
    if source == "body" and path[:1] == ["data"]:
        path = path[1:]
        if not path and message == "'data'":  # no body at all
            message = "a JSON body is required"
    if missing := _MISSING_FIELD.search(message):
        path.append(missing.group(1))
        message = "required field missing"
    return {"path": path, "message": message, "source": source}


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    extra: list[Any] = exc.extra if isinstance(exc.extra, list) else []
    issues = [_issue(request, item) for item in extra if isinstance(item, dict)]
    detail = str(exc.detail or "invalid request")
    if not issues:
        issues = [{"path": [], "message": detail}]
    message = "; ".join(
        f"{'.'.join(str(p) for p in issue['path']) or 'body'}: {issue['message']}"
        for issue in issues
    )
    return Response(
        error_body("error", "invalid_request", message, issues=issues),
        status_code=HTTP_400_BAD_REQUEST,
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status_code = exc.status_code
    detail = str(exc.detail or "")
    if status_code == HTTP_400_BAD_REQUEST:
        return Response(
            error_body(
                "error",
                "invalid_request",
                f"the request body is not valid JSON ({detail})"
                if "JSON" in detail or "decode" in detail.lower() or "Malformed" in detail
                else detail,
                issues=[{"path": [], "message": detail or "bad request"}],
            ),
            status_code=status_code,
        )
    if status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return Response(
            error_body(
                "error", "payload_too_large", "the request body is larger than the server accepts"
            ),
            status_code=status_code,
        )
    if isinstance(exc, NotAuthorizedException) or status_code == HTTP_401_UNAUTHORIZED:
        return Response(
            error_body("error", "auth_required", detail or "a bearer token is required"),
            status_code=HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Bearer realm="codex-manager"'},
        )
    if status_code == HTTP_404_NOT_FOUND:
        return Response(
            error_body("not_found", "not_found", detail or "no such route"), status_code=status_code
        )
    if status_code == 405:
        headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
        allowed = headers.get("allow", "")
        methods = ", ".join(
            m.strip() for m in allowed.split(",") if m.strip() not in ("", "OPTIONS")
        )
        return Response(
            error_body(
                "error",
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; use {methods}"
                if methods
                else detail or "method not allowed",
            ),
            status_code=status_code,
            headers=exc.headers,
        )
    return Response(
        error_body("error", "http_error", detail or "error"),
        status_code=status_code,
        headers=exc.headers,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        error_body(
            "error", "internal_error", f"internal error: {type(exc).__name__}; see the server log"
        ),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    core.ManagerError: handle_manager_error,
    core.RuntimeUnavailable: handle_runtime_unavailable,
    ValidationException: handle_validation,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

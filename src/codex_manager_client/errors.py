"""The server's error bodies as typed exceptions: the same classes the embedded Manager
raises, so code written against one works against the other.

Every HTTP error becomes an `ApiError` that is also the core error of its status and code:
a 404 is `NotFoundError`, which is a `codex_manager_core.errors.NotFound`, so
`except NotFound` catches it embedded and remote alike. `status`, `code`, `message` and the
whole `body` stay available. Failures that never got an answer are `TransportError` (the
server is down or the connection broke) and `ClientTimeout` (no answer in time).
"""

from __future__ import annotations

from typing import Any

from codex_manager_core import errors as core


class ClientError(core.CodexManagerError):
    """Base class of the errors only the remote client raises."""

    code = "client_error"


class TransportError(ClientError):
    """The request got no HTTP answer: the server is down, refused or cut the connection."""

    code = "transport_error"


class ClientTimeout(ClientError, core.TimedOut):
    """The server did not answer within the client's timeout."""

    code = "client_timeout"


class ApiError(ClientError):
    """The server answered with an error status. `body` is its JSON body (or None)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        core.CodexManagerError.__init__(self, message, code=code, details=body)
        self.status = status
        self.body = body


class InvalidInputError(ApiError, core.InvalidInput):
    @property
    def issues(self) -> list[dict[str, Any]]:  # type: ignore[override]
        issues = self.body.get("issues") if isinstance(self.body, dict) else None
        return issues if isinstance(issues, list) else [{"path": [], "message": self.message}]


class AuthError(ApiError):
    """401: the server needs a bearer token (`--token`, CODEX_MANAGER_TOKEN) or refused it."""


class ForbiddenError(ApiError, core.Forbidden):
    pass


class NotFoundError(ApiError, core.NotFound):
    pass


class GoneError(ApiError, core.Gone):
    """The session was permanently deleted (410); `session_id`, `title`, `deleted_at`."""

    @property
    def session_id(self) -> str:  # type: ignore[override]
        return str(_field(self.body, "sessionId") or "")

    @property
    def title(self) -> str:  # type: ignore[override]
        return str(_field(self.body, "title") or "")

    @property
    def deleted_at(self) -> Any:
        return _field(self.body, "deletedAt")


class ConflictError(ApiError, core.Conflict):
    pass


class InvalidStateError(ApiError, core.InvalidState):
    pass


class LockedError(ApiError, core.Locked):
    pass


class QueueFullError(ApiError, core.QueueFull):
    pass


class MethodNotSupportedError(ApiError, core.MethodNotSupported):
    @property
    def method(self) -> str:  # type: ignore[override]
        return str(_field(self.body, "method") or "")


class StoreUnavailableError(ApiError, core.StoreUnavailable):
    @property
    def location(self) -> str:  # type: ignore[override]
        return str(_field(self.body, "dataDir") or "")

    @property
    def reason(self) -> str:  # type: ignore[override]
        return str(_field(self.body, "reason") or "")


class RuntimeUnavailableError(ApiError, core.RuntimeUnavailable):
    """503: the server's codex runtime is not running (it may be restarting)."""


class UpstreamError(ApiError, core.RuntimeCallFailed):
    """502/504: the server's codex runtime failed or did not answer."""


class ServerError(ApiError):
    """Any other 5xx: a fault of the server, with its message."""


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


#: By body `code` first (several codes share a status), then by status.
_BY_CODE: dict[str, type[ApiError]] = {
    "invalid_state": InvalidStateError,
    "turn_in_progress": InvalidStateError,
    "method_not_supported": MethodNotSupportedError,
    "store_unavailable": StoreUnavailableError,
    "runtime_unavailable": RuntimeUnavailableError,
    "queue_full": QueueFullError,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInputError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: InvalidInputError,
    415: InvalidInputError,
    423: LockedError,
    429: QueueFullError,
    501: MethodNotSupportedError,
    502: UpstreamError,
    503: RuntimeUnavailableError,
    504: UpstreamError,
    507: StoreUnavailableError,
}


def error_from_response(status: int, body: Any, *, method: str = "", path: str = "") -> ApiError:
    """The typed error for an HTTP error answer. The message is the server's own (its
    `message`, else its `error` or `code`), else `METHOD path answered <status>`."""
    code = _field(body, "code") or _field(body, "status") or f"http_{status}"
    message = _field(body, "message") or _field(body, "error") or _field(body, "detail")
    if not isinstance(message, str) or not message:
        message = f"{method} {path} answered HTTP {status}".strip()
    kind = _BY_CODE.get(str(code)) or _BY_STATUS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else ApiError
    return kind(status, str(code), message, body)

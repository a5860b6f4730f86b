"""What every domain's shapes share: the controls vocabularies, the error bodies, and the
`status: "ok"` envelopes of runtime pass-through answers."""

from typing import Annotated, Any, Literal, NotRequired, TypedDict

import msgspec

from codex_manager_core.serde import to_exact_json

ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
NetworkAccess = Literal["restricted", "enabled"]
FilesystemSandbox = Literal["read-only", "workspace-write", "danger-full-access"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class ErrorBody(TypedDict):
    """Every error: `status` is "error", "not_found", "deleted", "locked" or a route's own
    word (e.g. "reconciled"); `code` is stable; `message` says what to do."""

    status: str
    code: str
    message: str
    issues: NotRequired[list[dict[str, Any]]]
    details: NotRequired[Any]


class DeletedBody(TypedDict):
    """410: the session was hard-deleted (durable: also after a restart)."""

    status: Literal["deleted"]
    code: str
    sessionId: str
    title: str
    message: str
    deletedAt: str


class RuntimeResult(TypedDict):
    """`{status: "ok", result}`: `result` is the runtime's answer, unchanged."""

    status: str
    result: Any


def ok(result: Any) -> RuntimeResult:
    """The original's answer to a write proxied to the runtime."""
    return {"status": "ok", "result": result}


def with_status(result: Any) -> dict[str, Any]:
    """The runtime's object answer with `status: "ok"` merged in (anything else under
    `result`): the original's answer to a read proxied to the runtime."""
    body: dict[str, Any] = {"status": "ok"}
    if isinstance(result, dict):
        body.update(result)
    else:
        body["result"] = result
    return body


#: A string that must not be empty (msgspec checks it; the OpenAPI document says so).
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


def record_of(value: Any, *, shown: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ours, additive: the core record behind a view, exactly (times in microseconds), as
    the `record` key of the view, so the remote client rebuilds the very value the
    embedded Manager returns. Fields in `shown` are left out: the view carries them whole
    under the same name (or the one the client maps), and they may be large."""
    data: dict[str, Any] = to_exact_json(value)
    for name in shown:
        data.pop(name, None)
    return data

"""What crosses the process boundary: events, handler results and toolbox answers as JSON.

Both sides use these: the parent encodes events and decodes (validates) results; the child
decodes events and encodes results. Everything from the other side is checked field by
field and refused with a `WireError` naming what was wrong: a child is not trusted.

The result shapes are the original's (`{kind: "none" | "enqueue_result" | "handler_result"
| "action_request", ...}`), in camelCase like the rest of the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from codex_manager_core.extensions.api import (
    ActionRequest,
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    ExtensionEvent,
    HandlerResult,
    HandlerReturn,
)

#: The host protocol's version, sent in `initialize`; a child of another version is refused.
PROTOCOL_VERSION: Final = 1
#: The longest line either side accepts: a result or toolbox call is small.
MAX_LINE_BYTES: Final = 1024 * 1024

# Methods, parent -> child.
INITIALIZE: Final = "initialize"
HANDLE: Final = "handle"
CANCEL: Final = "$/cancel"
# Methods, child -> parent.
ENQUEUE_JOB: Final = "toolbox/enqueueJob"
SESSION_SETTINGS: Final = "toolbox/sessionSettings"
SESSION_SETTING: Final = "toolbox/sessionSetting"
LOG: Final = "toolbox/log"

#: JSON-RPC error codes of the host protocol.
HANDLER_FAILED: Final = -32000
CANCELLED: Final = -32800
TOOLBOX_CLOSED: Final = -32001
TOOLBOX_FAILED: Final = -32002
LOAD_FAILED: Final = -32003


class WireError(ValueError):
    """A message from the other side has the wrong shape."""


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WireError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _string(obj: Mapping[str, Any], key: str, what: str, *, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise WireError(f"{what}.{key} must be a string, got {value!r:.80}")
    return value


def _required_string(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = _string(obj, key, what)
    assert value is not None
    return value


# ---------------------------------------------------------------- events


def event_to_json(event: ExtensionEvent) -> dict[str, Any]:
    return {
        "type": event.type,
        "payload": dict(event.payload),
        "context": {
            "projectId": event.context.project_id,
            "sessionId": event.context.session_id,
            "turnId": event.context.turn_id,
        },
        "emittedAt": None if event.emitted_at is None else event.emitted_at.isoformat(),
        "correlationId": event.correlation_id,
    }


def event_from_json(value: object) -> ExtensionEvent:
    obj = _object(value, "event")
    context = _object(obj.get("context") or {}, "event.context")
    emitted = _string(obj, "emittedAt", "event", optional=True)
    try:
        emitted_at = None if emitted is None else datetime.fromisoformat(emitted)
    except ValueError as exc:
        raise WireError(f"event.emittedAt is not an ISO datetime: {emitted!r:.80}") from exc
    return ExtensionEvent(
        type=_required_string(obj, "type", "event"),
        payload=dict(_object(obj.get("payload"), "event.payload")),
        context=EventContext(
            project_id=_string(context, "projectId", "event.context", optional=True),
            session_id=_string(context, "sessionId", "event.context", optional=True),
            turn_id=_string(context, "turnId", "event.context", optional=True),
        ),
        emitted_at=emitted_at,
        correlation_id=_string(obj, "correlationId", "event", optional=True),
    )


# ---------------------------------------------------------------- results


def enqueue_result_to_json(result: EnqueueResult) -> dict[str, Any]:
    return {"status": result.status.value, "jobId": result.job_id, "jobType": result.job_type}


def enqueue_result_from_json(value: object, what: str = "enqueue result") -> EnqueueResult:
    obj = _object(value, what)
    status = obj.get("status")
    try:
        parsed = EnqueueStatus(str(status))
        if not isinstance(status, str):
            raise ValueError(status)
    except ValueError:
        allowed = ", ".join(s.value for s in EnqueueStatus)
        raise WireError(f"{what}.status must be one of {allowed}, got {status!r:.80}") from None
    return EnqueueResult(
        parsed, _required_string(obj, "jobId", what), _required_string(obj, "jobType", what)
    )


def result_to_json(value: object) -> dict[str, Any]:
    """A handler's return value as the wire's `{kind, ...}` (the child side)."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, EnqueueResult):
        return {"kind": "enqueue_result", **enqueue_result_to_json(value)}
    if isinstance(value, HandlerResult):
        return {"kind": "handler_result", "details": value.details}
    if isinstance(value, ActionRequest):
        return {
            "kind": "action_request",
            "actionType": value.action_type,
            "payload": dict(value.payload),
            "requestId": value.request_id,
            "idempotencyKey": value.idempotency_key,
        }
    if isinstance(value, Mapping):
        return dict(value)  # the original's shape already; the parent validates it
    raise WireError(
        f"a handler must return None, EnqueueResult, HandlerResult, ActionRequest or a "
        f"mapping with a kind, not {type(value).__name__}"
    )


def result_from_json(value: object) -> HandlerReturn:
    """Validate what a child says its handler returned (the parent side)."""
    obj = _object(value, "handler result")
    kind = obj.get("kind")
    if kind == "none":
        return None
    if kind == "enqueue_result":
        return enqueue_result_from_json(obj, "handler result")
    if kind == "handler_result":
        return HandlerResult(obj.get("details"))
    if kind == "action_request":
        return ActionRequest(
            action_type=_required_string(obj, "actionType", "handler result"),
            payload=dict(_object(obj.get("payload"), "handler result.payload")),
            request_id=_string(obj, "requestId", "handler result", optional=True),
            idempotency_key=_string(obj, "idempotencyKey", "handler result", optional=True),
        )
    raise WireError(
        "handler result.kind must be none, enqueue_result, handler_result or action_request, "
        f"got {kind!r:.80}"
    )


# ---------------------------------------------------------------- the handshake


def subscriptions_from_json(value: object) -> list[tuple[str, int, float, int]]:
    """`initialize`'s answer: `(event_type, priority, timeout, index)` for each subscription."""
    obj = _object(value, "initialize result")
    items = obj.get("subscriptions")
    if not isinstance(items, list):
        raise WireError("initialize result.subscriptions must be a list")
    found: list[tuple[str, int, float, int]] = []
    for position, item in enumerate(items):
        what = f"subscriptions[{position}]"
        sub = _object(item, what)
        event_type = _required_string(sub, "eventType", what)
        priority, timeout, index = sub.get("priority"), sub.get("timeout"), sub.get("index")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise WireError(f"{what}.priority must be an integer, got {priority!r:.80}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise WireError(f"{what}.timeout must be a positive number, got {timeout!r:.80}")
        if index != position:
            raise WireError(f"{what}.index must be {position}, got {index!r:.80}")
        if not event_type:
            raise WireError(f"{what}.eventType must not be empty")
        found.append((event_type, priority, float(timeout), position))
    return found

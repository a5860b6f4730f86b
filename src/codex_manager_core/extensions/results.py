"""What a handler returned, checked; and an extension's action payload in the executor's
shape.

A handler's return value is hostile input: `normalize` accepts None, `EnqueueResult`,
`HandlerResult`, `ActionRequest`, or a Mapping with the original's `kind`
(`handler_result` {details}, `action_request` {actionType, payload, requestId?,
idempotencyKey?}); anything else raises `InvalidResult` naming what was wrong (an
`action_result` returned directly is refused, as the original refused it).

`adapt_action` turns the original's payload shapes into the executor's
(`codex_manager_core/actions/kinds.py`), in this one place:
`transcript.upsert {sessionId, entry}` -> `{sessionId, **entry}`; `queue.enqueue {type,
projectId, sourceSessionId?, payload}` -> `{type, owner: projectId, payload}` (the source
session must be the event's); the other kinds have the executor's shape already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from codex_manager_core.actions.kinds import OutOfScope
from codex_manager_core.extensions.api import (
    ActionRequest,
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    HandlerResult,
)
from codex_manager_core.models import JsonObject

MAX_DETAILS = 1_000_000
"""Characters of a handler result's details (as JSON) accepted."""
MAX_KEY = 200

Normalized = EnqueueResult | HandlerResult | ActionRequest | None


class InvalidResult(ValueError):
    """A handler returned something the runtime does not take (the message says what)."""


def _json_ok(value: Any, where: str) -> None:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidResult(f"{where} must be JSON: {exc}") from None
    if len(text) > MAX_DETAILS:
        raise InvalidResult(
            f"{where} is {len(text)} characters as JSON; the limit is {MAX_DETAILS}"
        )


def _optional_key(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise InvalidResult(f"{where} must be a string of 1-{MAX_KEY} characters")
    return value


def _action(action_type: Any, payload: Any, request_id: Any, key: Any) -> ActionRequest:
    if not isinstance(action_type, str) or not action_type:
        raise InvalidResult(
            f"action_request.actionType must be a non-empty string, got {action_type!r}"
        )
    if not isinstance(payload, Mapping):
        raise InvalidResult("action_request.payload must be an object")
    _json_ok(dict(payload), "action_request.payload")
    return ActionRequest(
        action_type,
        dict(payload),
        _optional_key(request_id, "action_request.requestId"),
        _optional_key(key, "action_request.idempotencyKey"),
    )


def normalize(value: Any) -> Normalized:
    """The handler's return value checked (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, EnqueueResult):
        if not isinstance(value.status, EnqueueStatus):
            raise InvalidResult(
                f"enqueue_result.status must be an EnqueueStatus, got {value.status!r}"
            )
        return value
    if isinstance(value, HandlerResult):
        _json_ok(value.details, "handler_result.details")
        return value
    if isinstance(value, ActionRequest):
        return _action(value.action_type, value.payload, value.request_id, value.idempotency_key)
    if isinstance(value, Mapping):
        kind = value.get("kind")
        if kind == "handler_result":
            details = value.get("details")
            _json_ok(details, "handler_result.details")
            return HandlerResult(details)
        if kind == "action_request":
            return _action(
                value.get("actionType"),
                value.get("payload"),
                value.get("requestId"),
                value.get("idempotencyKey"),
            )
        if kind == "action_result":
            raise InvalidResult(
                "a handler may not return an action_result: return an action_request and "
                "the core performs it"
            )
        raise InvalidResult(
            f"unknown result kind {kind!r}; expected handler_result or action_request"
        )
    raise InvalidResult(
        f"a handler returns None, EnqueueResult, HandlerResult, ActionRequest or a mapping "
        f"with a kind; got {type(value).__name__}"
    )


def adapt_action(action_type: str, payload: Mapping[str, Any], context: EventContext) -> JsonObject:
    """The executor's payload for the original's `payload` (see the module docstring).
    Raises OutOfScope for a source session other than the event's."""
    adapted: dict[str, Any] = dict(payload)
    if action_type == "transcript.upsert" and isinstance(adapted.get("entry"), Mapping):
        entry = adapted.pop("entry")
        adapted = {**entry, **adapted}
    elif action_type == "queue.enqueue":
        project_id = adapted.pop("projectId", None)
        source = adapted.pop("sourceSessionId", None)
        if source is not None and source != context.session_id:
            raise OutOfScope(
                f"sourceSessionId {source} is not the event's session {context.session_id}"
            )
        if project_id is not None and "owner" not in adapted:
            adapted["owner"] = project_id
    return adapted


__all__ = ["InvalidResult", "Normalized", "adapt_action", "normalize"]

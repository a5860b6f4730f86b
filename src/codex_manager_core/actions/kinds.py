"""What each action kind does: read its payload field by field, check it against the
scope, then call the service that already does the work (no behaviour of its own).

A handler raises `InvalidInput` (a payload that does not fit, naming the field),
`OutOfScope` (naming what was outside) or a service's own error; the executor turns each
into an `ActionResult`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from codex_manager_core.actions.model import ActionScope
from codex_manager_core.errors import Conflict, InvalidInput
from codex_manager_core.events.payloads import request_view
from codex_manager_core.models import JsonObject, JsonValue, RequestKind, RequestStatus
from codex_manager_core.services.transcript import entry_row

_MAX_ID = 200
_MAX_TEXT = 1_000_000


class OutOfScope(Exception):
    """The action would touch something outside its scope (the message says what)."""


class ActionServices(Protocol):
    """The services the kinds call: the Manager's groups (`manager.transcript`, ...)."""

    @property
    def transcript(self) -> Any: ...
    @property
    def requests(self) -> Any: ...
    @property
    def turns(self) -> Any: ...
    @property
    def jobs(self) -> Any: ...
    @property
    def sessions(self) -> Any: ...


Handler = Callable[[ActionServices, JsonObject, ActionScope, str], Awaitable[JsonValue]]


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"payload.{name}: {message}", issues=[{"path": [name], "message": message}])


def text(payload: JsonObject, name: str, *, required: bool = True, limit: int = _MAX_ID) -> Any:
    """A string field of 1..limit characters (None when absent and not required)."""
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _invalid(name, f"must be a string of 1-{limit} characters")
    return value


def scoped_session(payload: JsonObject, scope: ActionScope) -> str:
    """The payload's sessionId, which must be the scope's session."""
    session_id = text(payload, "sessionId")
    if scope.session_id is None:
        raise OutOfScope(f"session {session_id} is outside the scope: the scope has no session")
    if session_id != scope.session_id:
        raise OutOfScope(f"session {session_id} is not the scope's session {scope.session_id}")
    return str(session_id)


async def transcript_upsert(
    services: ActionServices, payload: JsonObject, scope: ActionScope, actor: str
) -> JsonValue:
    session_id = scoped_session(payload, scope)
    entry = {key: value for key, value in payload.items() if key != "sessionId"}
    record = await services.transcript.upsert(session_id, entry)
    row: dict[str, JsonValue] = entry_row(record)
    return row


async def approval_decide(
    services: ActionServices, payload: JsonObject, scope: ActionScope, actor: str
) -> JsonValue:
    approval_id = text(payload, "approvalId")
    decision = text(payload, "decision", limit=64)
    decision_scope = text(payload, "scope", required=False, limit=64)
    record = await services.requests.get(approval_id)
    if record.kind is not RequestKind.APPROVAL:
        raise _invalid("approvalId", f"{approval_id} is a {record.kind.value}, not an approval")
    if scope.session_id is None or record.thread_id != scope.session_id:
        raise OutOfScope(
            f"approval {approval_id} belongs to session {record.thread_id}, not {scope.session_id}"
        )
    if scope.turn_id is not None and record.turn_id != scope.turn_id:
        raise OutOfScope(
            f"approval {approval_id} belongs to turn {record.turn_id}, not {scope.turn_id}"
        )
    if record.status is not RequestStatus.PENDING:
        raise Conflict(
            f"approval {approval_id} is {record.status.value}, not pending", code="not_pending"
        )
    decided = await services.requests.decide_approval(
        approval_id, decision, scope=decision_scope, actor=actor
    )
    view: dict[str, JsonValue] = request_view(decided)
    return view


async def turn_steer(
    services: ActionServices, payload: JsonObject, scope: ActionScope, actor: str
) -> JsonValue:
    session_id = scoped_session(payload, scope)
    turn_id = text(payload, "turnId", required=False)
    if turn_id is None:
        turn_id = scope.turn_id
    elif scope.turn_id is not None and turn_id != scope.turn_id:
        raise OutOfScope(f"turn {turn_id} is not the scope's turn {scope.turn_id}")
    if turn_id is None:
        raise _invalid("turnId", "required (the scope names no turn)")
    steer_input = payload.get("input", payload.get("text"))
    if isinstance(steer_input, str):
        steer_input = text(payload, "input" if "input" in payload else "text", limit=_MAX_TEXT)
    elif not isinstance(steer_input, list) or not steer_input:
        raise _invalid("input", "must be a non-empty string or list of input items (or text)")
    result: JsonObject = await services.turns.steer(session_id, turn_id, steer_input)
    return dict(result)


async def queue_enqueue(
    services: ActionServices, payload: JsonObject, scope: ActionScope, actor: str
) -> JsonValue:
    job_type = text(payload, "type")
    owner = text(payload, "owner", required=False)
    if scope.owner is None:
        raise OutOfScope("the scope has no queue owner to enqueue for")
    if owner is not None and owner != scope.owner:
        raise OutOfScope(f"owner {owner} is not the scope's owner {scope.owner}")
    if "payload" not in payload:
        raise _invalid("payload", "required (the job's payload)")
    priority = text(payload, "priority", required=False, limit=32)
    enqueued = await services.jobs.enqueue(
        job_type,
        payload["payload"],
        owner=scope.owner,
        source_session_id=scope.session_id,
        priority=priority,
    )
    return {"jobId": enqueued.job.job_id, "outcome": str(enqueued.outcome)}


async def session_rename(
    services: ActionServices, payload: JsonObject, scope: ActionScope, actor: str
) -> JsonValue:
    session_id = scoped_session(payload, scope)
    title = text(payload, "title", limit=500)
    record = await services.sessions.rename(session_id, title)
    return {"sessionId": record.session_id, "title": record.title}


HANDLERS: Mapping[str, Handler] = {
    "transcript.upsert": transcript_upsert,
    "approval.decide": approval_decide,
    "turn.steer.create": turn_steer,
    "queue.enqueue": queue_enqueue,
    "session.rename": session_rename,
}

__all__ = ["HANDLERS", "ActionServices", "OutOfScope", "scoped_session", "text"]

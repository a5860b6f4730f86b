"""The events extensions see, synthesized from the ledger.

For user sessions only (a system-owned session's events, a worker's, never reach an
extension): `file_change.approval_requested` when a file-change approval is recorded,
`turn.completed` when a turn ends (with how many file-change approvals it had),
`approval.requested` and `approval.resolved` for any approval (ours),
`suggest_request.requested` as written by `manager.suggestions` (unless marked
`directDispatch`: the service emitted it itself), and every `app_server.*`
and `app_server.request.*` event as it is. Each carries its `EventContext` (project,
session, turn) and `correlation_id` = the ledger seq it comes from.

`EventSynthesizer.synthesize` is called once per ledger event, in ledger order (it counts
file-change approvals per turn, so it must see every event, also those nobody subscribed
to); `wanted(type)` tells it which synthesized events to build at all.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from codex_manager_core.extensions.api import EventContext, ExtensionEvent
from codex_manager_core.models import Event, JsonObject

FILE_CHANGE_APPROVAL: Final = "file_change.approval_requested"
APPROVAL_REQUESTED: Final = "approval.requested"
"""Ours: any approval a user session's runtime asked for (commands, file changes, ...)."""
APPROVAL_RESOLVED: Final = "approval.resolved"
"""Ours: an approval answered (by a person, an extension, a worker) or expired; the
original gave extensions no way to see that a request they watch has ended."""
TURN_COMPLETED: Final = "turn.completed"
SUGGEST_REQUESTED: Final = "suggest_request.requested"
DIRECT_DISPATCH: Final = "directDispatch"
"""Set in a `suggest_request.requested` the suggestions service emitted directly."""

FILE_CHANGE_METHODS: Final = frozenset({"item/fileChange/requestApproval", "applyPatchApproval"})
"""The approval requests that are about file changes (v2 and the legacy patch-apply one)."""

APPROVAL_EVENT: Final = "approval"
APPROVAL_RESOLVED_EVENT: Final = "approval_resolved"
TURN_COMPLETED_NOTIFICATION: Final = "app_server.turn.completed"
MAX_TRACKED_TURNS: Final = 10_000
"""Turns whose file-change approvals are counted at once; past it the oldest are forgotten
(a turn that never completes must not grow the count forever)."""

SOURCE_TYPES: Final = ("app_server.", APPROVAL_EVENT, SUGGEST_REQUESTED)
"""The ledger event types (prefixes) extension events come from (`approval` also matches
`approval_resolved`): the dispatcher reads only these, not the queue's or the transcript's
own events, so busy background work does not wake it."""

ProjectOf = Callable[[str], Awaitable[str | None]]
"""The project of a session (None: none, or the session is unknown)."""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def envelope_context(payload: Mapping[str, Any], thread_id: str | None) -> EventContext:
    """The context of an `app_server.*` event from its envelope (`context`, `session`)."""
    context = _mapping(payload.get("context"))
    session = _mapping(payload.get("session"))
    return EventContext(
        project_id=_str(session.get("projectId")),
        session_id=_str(context.get("threadId")) or thread_id,
        turn_id=_str(context.get("turnId")),
    )


class EventSynthesizer:
    """Ledger events in, extension events out (see the module docstring)."""

    def __init__(self, project_of: ProjectOf) -> None:
        self._project_of = project_of
        self._file_changes: collections.OrderedDict[tuple[str, str], int] = (
            collections.OrderedDict()
        )

    def file_change_approvals(self, session_id: str, turn_id: str) -> int:
        return self._file_changes.get((session_id, turn_id), 0)

    async def synthesize(self, event: Event, wanted: Callable[[str], bool]) -> list[ExtensionEvent]:
        """The extension events `event` gives (those `wanted` says someone listens to)."""
        if event.system:
            return []
        payload = event.payload if isinstance(event.payload, Mapping) else {}
        out: list[ExtensionEvent] = []
        if event.type == APPROVAL_EVENT and wanted(APPROVAL_REQUESTED):
            out.append(await self._approval(event, payload, APPROVAL_REQUESTED))
        elif event.type == APPROVAL_RESOLVED_EVENT and wanted(APPROVAL_RESOLVED):
            out.append(await self._approval(event, payload, APPROVAL_RESOLVED))
        if event.type == APPROVAL_EVENT and payload.get("method") in FILE_CHANGE_METHODS:
            thread_id = _str(payload.get("threadId")) or event.thread_id
            turn_id = _str(payload.get("turnId"))
            if thread_id and turn_id:
                self._count(thread_id, turn_id)
            if wanted(FILE_CHANGE_APPROVAL):
                out.append(await self._file_change(event, payload, thread_id, turn_id))
        elif event.type.startswith("app_server."):
            context = envelope_context(payload, event.thread_id)
            if wanted(event.type):
                out.append(self._make(event, event.type, dict(payload), context))
            if event.type == TURN_COMPLETED_NOTIFICATION:
                completed = self._turn_completed(event, payload, context)
                if completed is not None and wanted(TURN_COMPLETED):
                    out.append(completed)
        elif (
            event.type == SUGGEST_REQUESTED
            and payload.get(DIRECT_DISPATCH) is not True
            and wanted(SUGGEST_REQUESTED)
        ):
            # One the suggestions service emitted to the extensions itself is not emitted
            # a second time.
            context = EventContext(
                project_id=_str(payload.get("projectId")),
                session_id=_str(payload.get("sessionId")) or event.thread_id,
                turn_id=_str(payload.get("turnId")),
            )
            out.append(self._make(event, SUGGEST_REQUESTED, dict(payload), context))
        return out

    # ------------------------------------------------------------------ the synthesized ones

    async def _file_change(
        self,
        event: Event,
        payload: Mapping[str, Any],
        thread_id: str | None,
        turn_id: str | None,
    ) -> ExtensionEvent:
        project_id = await self._project_of(thread_id) if thread_id else None
        approval_id = _str(payload.get("approvalId"))
        item_id = _str(payload.get("itemId"))
        body: JsonObject = {
            "approvalId": approval_id,
            "threadId": thread_id,
            "sessionId": thread_id,
            "turnId": turn_id,
            "itemId": item_id,
            "projectId": project_id,
            "method": payload.get("method"),
            "summary": payload.get("summary"),
            "details": payload.get("details"),
            "sourceEvent": "approval_request",
            "fileChangeStatus": "pending_approval",
            # The original's nesting, for handlers written against it.
            "context": {
                "projectId": project_id,
                "sourceSessionId": thread_id,
                "threadId": thread_id,
                "turnId": turn_id,
                "itemId": item_id,
                "approvalId": approval_id,
            },
        }
        context = EventContext(project_id=project_id, session_id=thread_id, turn_id=turn_id)
        return self._make(event, FILE_CHANGE_APPROVAL, body, context)

    async def _approval(
        self, event: Event, payload: Mapping[str, Any], type_: str
    ) -> ExtensionEvent:
        """`approval.requested` / `approval.resolved`: the ledger event's payload as it is
        (the request's view, or `{approvalId, status, decision?, actor?, reason?}`)."""
        thread_id = _str(payload.get("threadId")) or event.thread_id
        project_id = await self._project_of(thread_id) if thread_id else None
        context = EventContext(project_id, thread_id, _str(payload.get("turnId")))
        return self._make(event, type_, dict(payload), context)

    def _turn_completed(
        self, event: Event, payload: Mapping[str, Any], context: EventContext
    ) -> ExtensionEvent | None:
        params = _mapping(payload.get("params"))
        turn = _mapping(params.get("turn"))
        session_id = context.session_id or _str(params.get("threadId"))
        turn_id = context.turn_id or _str(turn.get("id")) or _str(params.get("turnId"))
        if session_id is None or turn_id is None:
            return None
        approvals = self._file_changes.pop((session_id, turn_id), 0)
        body: JsonObject = {
            "sessionId": session_id,
            "threadId": session_id,
            "projectId": context.project_id,
            "turnId": turn_id,
            "status": _str(turn.get("status")),
            "fileChangeApprovals": approvals,
        }
        scoped = EventContext(context.project_id, session_id, turn_id)
        return self._make(event, TURN_COMPLETED, body, scoped)

    # ------------------------------------------------------------------ helpers

    def _count(self, session_id: str, turn_id: str) -> None:
        key = (session_id, turn_id)
        self._file_changes[key] = self._file_changes.pop(key, 0) + 1
        while len(self._file_changes) > MAX_TRACKED_TURNS:
            self._file_changes.popitem(last=False)

    @staticmethod
    def _make(
        event: Event, type_: str, payload: JsonObject, context: EventContext
    ) -> ExtensionEvent:
        return ExtensionEvent(
            type=type_,
            payload=payload,
            context=context,
            emitted_at=event.at,
            correlation_id=str(event.seq),
        )


__all__ = [
    "APPROVAL_REQUESTED",
    "APPROVAL_RESOLVED",
    "FILE_CHANGE_APPROVAL",
    "FILE_CHANGE_METHODS",
    "SOURCE_TYPES",
    "SUGGEST_REQUESTED",
    "TURN_COMPLETED",
    "EventSynthesizer",
    "envelope_context",
]

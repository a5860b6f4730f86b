"""Interactive requests: approvals, questions for the user, dynamic tool calls.

Each server request that waits for an answer becomes a durable row. Its life is
pending -> resolving -> resolved, or -> expired / invalidated. Answering is a
compare-and-set on the row (pending -> resolving) before anything is sent to the runtime, so
of two answers exactly one wins and the other gets Conflict ("already resolved" or "in
flight"). Rows expire when the runtime resolves them itself (`serverRequest/resolved`), when
their turn ends, when the runtime process exits, after the optional timeout, and at start-up
for every row a previous manager process left open.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

import anyio
import attrs

from codex_manager_core import rpc
from codex_manager_core._base import ManagerBase, check_id
from codex_manager_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RuntimeUnavailable,
    TransportClosed,
)
from codex_manager_core.events.naming import request_event_type
from codex_manager_core.models import (
    EventDraft,
    InteractiveRequest,
    RequestKind,
    RequestStatus,
)
from codex_manager_core.runtime.client import DEFERRED, ServerRequestError
from codex_manager_core.store.batch import (
    PutRequest,
    RequestQuery,
    StoreConflict,
    TransitionRequest,
)
from codex_manager_core.views import app_server_envelope, request_view

logger = logging.getLogger("codex_manager_core.requests")

V2_APPROVAL_METHODS: Final = frozenset(
    {
        "item/commandExecution/requestApproval",
        "item/fileChange/requestApproval",
        "item/permissions/requestApproval",
    }
)
LEGACY_APPROVAL_METHODS: Final = frozenset({"execCommandApproval", "applyPatchApproval"})
USER_INPUT_METHODS: Final = frozenset({"item/tool/requestUserInput", "tool/requestUserInput"})
TOOL_CALL_METHODS: Final = frozenset({"item/tool/call"})

OPEN: Final = (RequestStatus.PENDING, RequestStatus.RESOLVING)

# The events of each kind (the original's names).
REQUESTED_EVENT: Final = {
    RequestKind.APPROVAL: "approval",
    RequestKind.USER_INPUT: "tool_user_input_requested",
    RequestKind.TOOL_CALL: "tool_call_requested",
}
RESOLVED_EVENT: Final = {
    RequestKind.APPROVAL: "approval_resolved",
    RequestKind.USER_INPUT: "tool_user_input_resolved",
    RequestKind.TOOL_CALL: "tool_call_resolved",
}

APPROVAL_DECISIONS: Final = (
    "accept",
    "acceptForSession",
    "decline",
    "cancel",
    # the legacy names
    "approved",
    "approved_for_session",
    "denied",
    "abort",
)
_CANONICAL_DECISION: Final = {
    "approved": "accept",
    "approved_for_session": "acceptForSession",
    "denied": "decline",
    "abort": "cancel",
}
_LEGACY_WIRE: Final = {
    "accept": "approved",
    "acceptForSession": "approved_for_session",
    "decline": "denied",
    "cancel": "abort",
}
USER_INPUT_DECISIONS: Final = ("accept", "decline", "cancel")


def request_kind(method: str) -> RequestKind | None:
    if method in V2_APPROVAL_METHODS or method in LEGACY_APPROVAL_METHODS:
        return RequestKind.APPROVAL
    if method in USER_INPUT_METHODS:
        return RequestKind.USER_INPUT
    if method in TOOL_CALL_METHODS:
        return RequestKind.TOOL_CALL
    return None


def approval_reply(
    method: str, decision: str, scope: str | None, params: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The canonical decision and the wire reply for an approval request."""
    if decision not in APPROVAL_DECISIONS:
        raise InvalidInput(
            f"decision must be one of {list(APPROVAL_DECISIONS)}, got {decision!r}",
            issues=[{"path": ["decision"], "message": "invalid decision"}],
        )
    if scope not in (None, "turn", "session"):
        raise InvalidInput(
            f"scope must be 'turn' or 'session', got {scope!r}",
            issues=[{"path": ["scope"], "message": "invalid scope"}],
        )
    canonical = _CANONICAL_DECISION.get(decision, decision)
    if canonical == "accept" and scope == "session":
        canonical = "acceptForSession"
    if method == "item/permissions/requestApproval":
        if canonical in ("accept", "acceptForSession"):
            grant = params.get("permissions") if isinstance(params, Mapping) else None
            return canonical, {
                "permissions": grant if isinstance(grant, Mapping) else {},
                "scope": "session" if canonical == "acceptForSession" else "turn",
            }
        return canonical, {"permissions": {}}
    if method in LEGACY_APPROVAL_METHODS:
        return canonical, {"decision": _LEGACY_WIRE[canonical]}
    return canonical, {"decision": canonical}


def _params(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _item_id(params: Mapping[str, Any]) -> str | None:
    value = params.get("itemId") or params.get("callId")
    return value if isinstance(value, str) else None


class RequestsMixin(ManagerBase):
    """Intake, answering and expiry of interactive requests."""

    # ------------------------------------------------------------------ intake

    async def _on_server_request(self, epoch: int, request: rpc.ServerRequest) -> Any:
        generation = self._state.generations.get(epoch, self._state.generation)
        raw_params = self._threads.incoming(request.params)
        params = _params(raw_params)
        thread_id = params.get("threadId") if isinstance(params.get("threadId"), str) else None
        session = await self._find_session(thread_id) if thread_id else None
        if thread_id and session is None and await self._tombstone(thread_id) is not None:
            raise ServerRequestError(
                rpc.INVALID_REQUEST, f"session {thread_id} was deleted by codex-manager"
            )
        kind = request_kind(request.method)
        system = bool(session and session.system_owned)
        now = self._now()
        request_id = f"{generation}-{request.id}"
        turn_id = params.get("turnId") if isinstance(params.get("turnId"), str) else None
        passthrough = EventDraft(
            request_event_type(request.method),
            thread_id,
            app_server_envelope(
                signal_type="request",
                event_type=request_event_type(request.method),
                method=request.method,
                received_at=now,
                params=raw_params,
                session=session,
                thread_id=thread_id,
                turn_id=turn_id,
                request_id=request_id,
            ),
            now,
            system=system,
        )
        if kind is None:
            raw = EventDraft(
                "server_request",
                thread_id,
                {"id": request.id, "method": request.method, "params": raw_params},
                now,
                system=system,
            )
            await self.ledger.emit(passthrough, raw)
            raise ServerRequestError(
                rpc.METHOD_NOT_FOUND,
                f"codex-manager does not support the server request {request.method!r}",
            )
        timeout = self.config.request_timeout
        record = InteractiveRequest(
            request_id=request_id,
            kind=kind,
            method=request.method,
            generation=generation,
            rpc_id=request.id,
            thread_id=thread_id,
            turn_id=turn_id,
            item_id=_item_id(params),
            params=params,
            status=RequestStatus.PENDING,
            created_at=now,
            expires_at=None if timeout is None or system else now + timedelta(seconds=timeout),
        )
        requested = self._event(
            REQUESTED_EVENT[kind], thread_id, request_view(record), system=system
        )
        registered_tool = kind is RequestKind.TOOL_CALL and params.get("tool") in self.tools
        if system and not registered_tool:
            return await self._resolve_by_policy(record, [passthrough, requested])
        await self._write([PutRequest(record)], [passthrough, requested])
        if registered_tool:
            self._spawn(f"tool {params.get('tool')}", self._run_registered_tool, record)
        elif record.expires_at is not None and timeout is not None:
            self._spawn(f"expire {request_id}", self._expire_after, request_id, timeout)
        return DEFERRED

    async def _resolve_by_policy(self, record: InteractiveRequest, events: list[EventDraft]) -> Any:
        """System-owned sessions have nobody to ask: answer by policy, record it."""
        policy = self.config.system_request_policy
        if record.kind is RequestKind.APPROVAL:
            decision, reply = approval_reply(
                record.method, policy.approval_decision, None, record.params
            )
            resolution: dict[str, Any] = {"decision": decision, "by": "policy"}
            resolved_payload: dict[str, Any] = {"decision": decision}
        elif record.kind is RequestKind.USER_INPUT:
            reply = {"answers": {}}
            resolution = {"decision": policy.user_input_decision, "by": "policy"}
            resolved_payload = {"decision": policy.user_input_decision}
        else:
            reply = {
                "success": policy.tool_call_success,
                "contentItems": [
                    {"type": "inputText", "text": "system-owned session: tool calls are refused"}
                ],
            }
            resolution = {"success": policy.tool_call_success, "by": "policy"}
            resolved_payload = {"success": policy.tool_call_success}
        resolved = attrs.evolve(
            record,
            status=RequestStatus.RESOLVED,
            resolved_at=self._now(),
            resolution=resolution,
            reason="resolved by the system-session policy",
        )
        events.append(self._resolved_event(resolved, "resolved", resolved_payload))
        await self._write([PutRequest(resolved)], events)
        return reply

    def _resolved_event(
        self, record: InteractiveRequest, status: str, extra: Mapping[str, Any]
    ) -> EventDraft:
        id_key = "approvalId" if record.kind is RequestKind.APPROVAL else "requestId"
        payload = {id_key: record.request_id, "status": status, **extra}
        if record.reason and status != "resolved":
            payload["reason"] = record.reason
        return EventDraft(
            RESOLVED_EVENT[record.kind],
            record.thread_id,
            payload,
            self._now(),
            system=bool(
                record.thread_id
                and (session := self._sessions.get(record.thread_id)) is not None
                and session.system_owned
            ),
        )

    # ------------------------------------------------------------------ listing

    async def list_requests(
        self,
        session_id: str | None = None,
        *,
        kind: RequestKind | str | None = None,
        statuses: Sequence[RequestStatus | str] | None = (RequestStatus.PENDING,),
    ) -> list[InteractiveRequest]:
        """Interactive requests, oldest first (by default: the pending ones). No side effects."""
        if session_id is not None:
            await self._session(session_id)
        if isinstance(statuses, str):
            statuses = [statuses]
        try:
            status_values = (
                None if statuses is None else tuple(RequestStatus(status) for status in statuses)
            )
            kinds = None if kind is None else (RequestKind(kind).value,)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"{exc}: kind must be one of {[k.value for k in RequestKind]} and statuses "
                f"a list of {[s.value for s in RequestStatus]}",
                issues=[
                    {"path": ["kind" if "Kind" in str(exc) else "statuses"], "message": str(exc)}
                ],
            ) from exc
        return await self.store.list_requests(
            RequestQuery(thread_id=session_id, statuses=status_values, kinds=kinds)
        )

    async def list_approvals(self, session_id: str) -> list[InteractiveRequest]:
        return await self.list_requests(session_id, kind=RequestKind.APPROVAL)

    async def list_user_input_requests(self, session_id: str) -> list[InteractiveRequest]:
        return await self.list_requests(session_id, kind=RequestKind.USER_INPUT)

    async def list_tool_calls(self, session_id: str) -> list[InteractiveRequest]:
        return await self.list_requests(session_id, kind=RequestKind.TOOL_CALL)

    async def get_request(self, request_id: str) -> InteractiveRequest:
        check_id(request_id, "requestId")
        record = await self.store.get_request(request_id)
        if record is None:
            raise NotFound(f"no interactive request {request_id!r}")
        return record

    # ------------------------------------------------------------------ answering

    async def decide_approval(
        self,
        approval_id: str,
        decision: str,
        *,
        scope: str | None = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer an approval: accept, acceptForSession, decline or cancel (legacy names
        approved / approved_for_session / denied / abort too). Exactly once."""
        record = await self._open_request(approval_id, RequestKind.APPROVAL)
        canonical, reply = approval_reply(record.method, decision, scope, record.params)
        return await self._answer(
            record,
            reply,
            {"decision": canonical, "scope": scope, "actor": actor},
            # The original's approval_resolved always names the scope (default turn).
            {"decision": canonical, "scope": scope or "turn"},
        )

    async def answer_user_input(
        self,
        request_id: str,
        *,
        decision: str = "accept",
        answers: Mapping[str, Any] | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer a question of the model: `answers` maps question id to
        {"answers": [..]} (or a plain list / string); decline/cancel send no answers; a raw
        `response` is sent as is."""
        record = await self._open_request(request_id, RequestKind.USER_INPUT)
        if decision not in USER_INPUT_DECISIONS:
            raise InvalidInput(
                f"decision must be one of {list(USER_INPUT_DECISIONS)}, got {decision!r}",
                issues=[{"path": ["decision"], "message": "invalid decision"}],
            )
        if response is not None:
            reply = response
        elif decision == "accept":
            reply = {"answers": _normalize_answers(answers or {})}
        else:
            reply = {"answers": {}}
        return await self._answer(
            record,
            reply,
            {
                "decision": decision,
                "answers": reply.get("answers") if isinstance(reply, dict) else None,
                "actor": actor,
            },
            {"decision": decision},
        )

    async def respond_tool_call(
        self,
        request_id: str,
        *,
        success: bool = True,
        content_items: Sequence[Mapping[str, Any]] | None = None,
        text: str | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer a dynamic tool call with text or content items (or a raw `response`)."""
        record = await self._open_request(request_id, RequestKind.TOOL_CALL)
        if response is not None:
            reply = response
        else:
            items = list(content_items) if content_items is not None else []
            if text is not None:
                items.append({"type": "inputText", "text": text})
            for index, item in enumerate(items):
                if not isinstance(item, Mapping) or item.get("type") not in (
                    "inputText",
                    "inputImage",
                ):
                    raise InvalidInput(
                        "contentItems entries must be {type: inputText, text} or "
                        "{type: inputImage, imageUrl}",
                        issues=[{"path": ["contentItems", index], "message": "invalid item"}],
                    )
            reply = {"success": bool(success), "contentItems": [dict(item) for item in items]}
        succeeded = bool(reply.get("success")) if isinstance(reply, dict) else bool(success)
        return await self._answer(
            record, reply, {"success": succeeded, "actor": actor}, {"success": succeeded}
        )

    async def _open_request(self, request_id: str, kind: RequestKind) -> InteractiveRequest:
        check_id(request_id, "requestId")
        record = await self.store.get_request(request_id)
        if record is None or record.kind is not kind:
            noun = {
                "approval": "approval",
                "user_input": "tool-input request",
                "tool_call": "tool call",
            }[kind.value]
            raise NotFound(f"no {noun} {request_id!r} (it may never have existed)")
        self._raise_if_closed(record)
        return record

    def _raise_if_closed(self, record: InteractiveRequest) -> None:
        if record.status is RequestStatus.RESOLVING:
            raise Conflict(
                f"{record.request_id} is being answered right now (in flight); "
                "only one answer can win",
                code="in_flight",
            )
        if not record.status.open:
            raise Conflict(
                f"{record.request_id} is already {record.status.value}"
                + (f" ({record.reason})" if record.reason else ""),
                code="already_resolved",
                details={"status": record.status.value},
            )

    async def _transition(
        self,
        record: InteractiveRequest,
        from_statuses: tuple[RequestStatus, ...],
        to_status: RequestStatus,
        events: Sequence[EventDraft] = (),
        **changes: Any,
    ) -> InteractiveRequest:
        try:
            await self._write(
                [TransitionRequest(record.request_id, from_statuses, to_status, changes)], events
            )
        except StoreConflict:
            current = await self.store.get_request(record.request_id)
            if current is not None:
                self._raise_if_closed(current)
            raise
        return attrs.evolve(record, status=to_status, **changes)

    async def _answer(
        self,
        record: InteractiveRequest,
        reply: Any,
        resolution: Mapping[str, Any],
        resolved_payload: Mapping[str, Any],
    ) -> InteractiveRequest:
        claimed = await self._transition(record, (RequestStatus.PENDING,), RequestStatus.RESOLVING)
        epoch = self._epoch_of(claimed.generation)
        try:
            if epoch is None:
                raise RuntimeUnavailable("the runtime process that asked has exited")
            await self.supervisor.reply(epoch, claimed.rpc_id, reply)
        except (RuntimeUnavailable, TransportClosed) as exc:
            expired = attrs.evolve(
                claimed, reason="the runtime exited before the answer was delivered"
            )
            await self._transition(
                claimed,
                (RequestStatus.RESOLVING,),
                RequestStatus.EXPIRED,
                [self._resolved_event(expired, "expired", {})],
                resolved_at=self._now(),
                reason=expired.reason,
            )
            raise Conflict(
                f"{record.request_id} expired: {expired.reason}", code="expired"
            ) from exc
        except BaseException:
            # Cancelled mid-send: give the request back so someone can answer it.
            with anyio.CancelScope(shield=True):
                await self._transition(claimed, (RequestStatus.RESOLVING,), RequestStatus.PENDING)
            raise
        resolved = attrs.evolve(claimed, resolution=dict(resolution))
        return await self._transition(
            claimed,
            (RequestStatus.RESOLVING,),
            RequestStatus.RESOLVED,
            [self._resolved_event(resolved, "resolved", resolved_payload)],
            resolved_at=self._now(),
            resolution=dict(resolution),
            reason=f"answered by {resolution.get('actor') or 'a client'}",
        )

    def _epoch_of(self, generation: int) -> int | None:
        if generation != self._state.generation:
            return None
        for epoch, known in self._state.generations.items():
            if known == generation:
                return epoch
        return None

    async def _run_registered_tool(self, record: InteractiveRequest) -> None:
        tool = str(record.params.get("tool"))
        result = await self.tools.call(tool, record.params.get("arguments"))
        try:
            await self._answer(
                record,
                result.to_response(),
                {"success": result.success, "actor": f"tool:{tool}"},
                {"success": result.success},
            )
        except Conflict:
            logger.info("tool call %s was answered elsewhere first", record.request_id)

    # ------------------------------------------------------------------ expiry

    async def _expire_requests(
        self,
        query: RequestQuery,
        reason: str,
        *,
        to_status: RequestStatus = RequestStatus.EXPIRED,
        statuses: tuple[RequestStatus, ...] = (RequestStatus.PENDING,),
    ) -> int:
        """End every request matching `query` in one of `statuses` (no answer is sent: the
        runtime no longer waits for one). By default only pending ones: an answer being
        sent right now finishes on its own (its write is already queued ahead of ours).
        Returns how many."""
        count = 0
        for record in await self.store.list_requests(attrs.evolve(query, statuses=statuses)):
            ended = attrs.evolve(record, reason=reason)
            try:
                await self._transition(
                    record,
                    statuses,
                    to_status,
                    [self._resolved_event(ended, to_status.value, {})],
                    resolved_at=self._now(),
                    reason=reason,
                )
            except (StoreConflict, Conflict):
                continue  # resolved meanwhile
            count += 1
        return count

    async def _expire_after(self, request_id: str, timeout: float) -> None:
        """The optional timeout: expire and answer the runtime with the refusal."""
        await anyio.sleep(timeout)
        record = await self.store.get_request(request_id)
        if record is None or record.status is not RequestStatus.PENDING:
            return
        if record.kind is RequestKind.APPROVAL:
            _, reply = approval_reply(record.method, "decline", None, record.params)
        elif record.kind is RequestKind.USER_INPUT:
            reply = {"answers": {}}
        else:
            reply = {
                "success": False,
                "contentItems": [{"type": "inputText", "text": "timed out waiting for an answer"}],
            }
        reason = f"no answer within {timeout:g} s"
        try:
            claimed = await self._transition(
                record, (RequestStatus.PENDING,), RequestStatus.RESOLVING
            )
        except (Conflict, StoreConflict):
            return
        epoch = self._epoch_of(claimed.generation)
        if epoch is not None:
            with contextlib.suppress(RuntimeUnavailable, TransportClosed):
                await self.supervisor.reply(epoch, claimed.rpc_id, reply)
        ended = attrs.evolve(claimed, reason=reason)
        await self._transition(
            claimed,
            (RequestStatus.RESOLVING,),
            RequestStatus.EXPIRED,
            [self._resolved_event(ended, "expired", {})],
            resolved_at=self._now(),
            reason=reason,
            resolution={"timeout": timeout, "reply": reply},
        )

    async def _expire_session_requests_on_turn_end(self, thread_id: str, turn_id: str) -> None:
        await self._expire_requests(
            RequestQuery(thread_id=thread_id, turn_id=turn_id), "the turn ended"
        )

    async def _expire_resolved_by_runtime(self, params: Mapping[str, Any]) -> None:
        rpc_id = params.get("requestId")
        if rpc_id is None:
            return
        request_id = f"{self._state.generation}-{rpc_id}"
        record = await self.store.get_request(request_id)
        if record is None or record.status is not RequestStatus.PENDING:
            return
        ended = attrs.evolve(record, reason="resolved by the runtime")
        with contextlib.suppress(StoreConflict, Conflict):
            await self._transition(
                record,
                (RequestStatus.PENDING,),
                RequestStatus.EXPIRED,
                [self._resolved_event(ended, "expired", {})],
                resolved_at=self._now(),
                reason=ended.reason,
            )


def _normalize_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Accept {qid: {"answers": [...]}} (the wire form), {qid: [...]} or {qid: "text"}."""
    normalized: dict[str, Any] = {}
    for question_id, answer in answers.items():
        if isinstance(answer, Mapping) and isinstance(answer.get("answers"), list):
            values = answer["answers"]
        elif isinstance(answer, list):
            values = answer
        elif isinstance(answer, str):
            values = [answer]
        else:
            raise InvalidInput(
                f"answer for question {question_id!r} must be a string, a list of strings or "
                '{"answers": [...]}',
                issues=[{"path": ["answers", question_id], "message": "invalid answer"}],
            )
        if not all(isinstance(value, str) for value in values):
            raise InvalidInput(
                f"answers for question {question_id!r} must be strings",
                issues=[{"path": ["answers", question_id], "message": "not a string"}],
            )
        normalized[str(question_id)] = {"answers": list(values)}
    return normalized

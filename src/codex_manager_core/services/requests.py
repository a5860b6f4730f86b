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

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from codex_manager_core.errors import InvalidInput, NotFound
from codex_manager_core.models import InteractiveRequest, RequestKind, RequestStatus
from codex_manager_core.ports.store import RequestQuery
from codex_manager_core.services.context import ServiceContext, check_id
from codex_manager_core.services.request_lifecycle import RequestLifecycle
from codex_manager_core.services.request_rules import (
    USER_INPUT_DECISIONS,
    approval_reply,
    normalize_answers,
)


class RequestsService:
    """Listing and answering interactive requests (`manager.requests`; the per-kind views
    are `manager.approvals`, `manager.tool_input` and `manager.tool_calls`)."""

    def __init__(self, ctx: ServiceContext, lifecycle: RequestLifecycle) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._lifecycle = lifecycle

    # ------------------------------------------------------------------ listing

    async def list(
        self,
        session_id: str | None = None,
        *,
        kind: RequestKind | str | None = None,
        statuses: Sequence[RequestStatus | str] | None = (RequestStatus.PENDING,),
    ) -> builtins.list[InteractiveRequest]:
        """Interactive requests, oldest first (by default: the pending ones). No side effects."""
        if session_id is not None:
            await self._records.get(session_id)
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
        return await self._ctx.store.list_requests(
            RequestQuery(thread_id=session_id, statuses=status_values, kinds=kinds)
        )

    async def get(self, request_id: str) -> InteractiveRequest:
        check_id(request_id, "request_id")
        record = await self._ctx.store.get_request(request_id)
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
        return await self._lifecycle.answer(
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
            reply = {"answers": normalize_answers(answers or {})}
        else:
            reply = {"answers": {}}
        return await self._lifecycle.answer(
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
                        "content_items entries must be {type: inputText, text} or "
                        "{type: inputImage, imageUrl}",
                        issues=[{"path": ["content_items", index], "message": "invalid item"}],
                    )
            reply = {"success": bool(success), "contentItems": [dict(item) for item in items]}
        succeeded = bool(reply.get("success")) if isinstance(reply, dict) else bool(success)
        return await self._lifecycle.answer(
            record, reply, {"success": succeeded, "actor": actor}, {"success": succeeded}
        )

    async def _open_request(self, request_id: str, kind: RequestKind) -> InteractiveRequest:
        check_id(request_id, "request_id")
        record = await self._ctx.store.get_request(request_id)
        if record is None or record.kind is not kind:
            noun = {
                "approval": "approval",
                "user_input": "tool-input request",
                "tool_call": "tool call",
            }[kind.value]
            raise NotFound(f"no {noun} {request_id!r} (it may never have existed)")
        self._lifecycle.raise_if_closed(record)
        return record


class ApprovalsService:
    """`manager.approvals`: the pending approvals of a session, and deciding one."""

    def __init__(self, requests: RequestsService) -> None:
        self._requests = requests

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        return await self._requests.list(session_id, kind=RequestKind.APPROVAL)

    async def get(self, approval_id: str) -> InteractiveRequest:
        return await self._requests.get(approval_id)

    async def decide(
        self,
        approval_id: str,
        decision: str,
        *,
        scope: str | None = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer an approval: accept, acceptForSession, decline or cancel (legacy names
        approved / approved_for_session / denied / abort too). Exactly once."""
        return await self._requests.decide_approval(approval_id, decision, scope=scope, actor=actor)


class ToolInputService:
    """`manager.tool_input`: questions the model asks the user, and answering them."""

    def __init__(self, requests: RequestsService) -> None:
        self._requests = requests

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        return await self._requests.list(session_id, kind=RequestKind.USER_INPUT)

    async def answer(
        self,
        request_id: str,
        *,
        decision: str = "accept",
        answers: Mapping[str, Any] | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        return await self._requests.answer_user_input(
            request_id, decision=decision, answers=answers, response=response, actor=actor
        )


class ToolCallsService:
    """`manager.tool_calls`: dynamic tool calls waiting for a client's answer."""

    def __init__(self, requests: RequestsService) -> None:
        self._requests = requests

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        return await self._requests.list(session_id, kind=RequestKind.TOOL_CALL)

    async def respond(
        self,
        request_id: str,
        *,
        success: bool = True,
        content_items: Sequence[Mapping[str, Any]] | None = None,
        text: str | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        return await self._requests.respond_tool_call(
            request_id,
            success=success,
            content_items=content_items,
            text=text,
            response=response,
            actor=actor,
        )

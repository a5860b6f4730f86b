"""Interactive requests: approvals, tool input (questions of the model) and dynamic tool calls
(the original's sections 1.11 to 1.13).

Each is answered exactly once; an unknown id gets 404. Listing has no side effects. A late
answer gets what the original's clients expect:

- approvals: 409 `{status: "reconciled", approvalId, threadId, code}` (code
  `already_resolved`, or `conflict` while another answer is being sent);
- tool input and tool calls: 404 `{status: "not_found", requestId, code:
  "already_resolved"}` once answered or expired (the original had forgotten them), 409
  `{status: "conflict", code: "in_flight", requestId}` while another answer is being sent
  (the original's Python client treats both as "someone else answered").

`reason`, `requestStatus` and `threadId` say more (ours). The shapes are in
`wire/requests.py`.
"""

from typing import Any, cast

from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_404_NOT_FOUND

from codex_manager_core.errors import Conflict
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, Reshaped, error_responses, reshaped
from codex_manager_http.wire import requests as wire


async def _reconciled(manager: ManagerDep, exc: Conflict, approval_id: str) -> Reshaped:
    """A late approval decision: 409 `{status: "reconciled", approvalId, threadId, code}`."""
    current = await manager.requests.get(approval_id)
    return reshaped(exc, "reconciled", **wire.reconciled(exc, approval_id, current))


async def _late_answer(manager: ManagerDep, exc: Conflict, request_id: str) -> Reshaped:
    """A late tool-input or tool-call answer: 409 `{status: "conflict", code: "in_flight"}`
    while another answer is being sent, else 404 `{status: "not_found", code:
    "already_resolved"}`."""
    current = await manager.requests.get(request_id)
    extra = wire.late_answer(exc, request_id, current)
    if exc.code == "in_flight":
        return reshaped(exc, "conflict", **extra)
    return reshaped(exc, "not_found", status_code=HTTP_404_NOT_FOUND, **extra)


# ---------------------------------------------------------------------- approvals


@get(
    "/api/sessions/{session_id:str}/approvals",
    tags=["requests"],
    summary="List pending approvals for a session",
    responses=error_responses(404, 410),
)
async def list_approvals(manager: ManagerDep, session_id: FromPath[str]) -> wire.ApprovalList:
    """Pending approvals, oldest first (no side effects)."""
    return wire.approval_list(session_id, await manager.approvals.list(session_id))


@post(
    "/api/approvals/{approval_id:str}/decision",
    tags=["requests"],
    summary="Submit approval decision",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def decide_approval(
    manager: ManagerDep, approval_id: FromPath[str], data: JSONBody[wire.ApprovalDecisionBody]
) -> wire.ApprovalDecided:
    """accept / decline / cancel (acceptForSession, or scope "session"; the legacy names
    approved / approved_for_session / denied / abort too). 409 `reconciled` when it was
    already answered or expired (`code` already_resolved) or another answer is being sent
    (`code` conflict); `reason` says which."""
    try:
        decided = await manager.approvals.decide(
            approval_id, data["decision"], scope=data.get("scope"), actor=data.get("actor")
        )
    except Conflict as exc:
        raise await _reconciled(manager, exc, approval_id) from exc
    return wire.approval_decided(approval_id, decided, data)


# ---------------------------------------------------------------------- tool input


@get(
    "/api/sessions/{session_id:str}/tool-input",
    tags=["requests"],
    summary="List pending tool-input requests for a session",
    responses=error_responses(404, 410),
)
async def list_tool_input(manager: ManagerDep, session_id: FromPath[str]) -> wire.ToolInputList:
    """Pending questions of the model (request_user_input), with normalized `questions`."""
    return wire.tool_input_list(session_id, await manager.tool_input.list(session_id))


@post(
    "/api/tool-input/{request_id:str}/decision",
    tags=["requests"],
    summary="Submit tool-input decision",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def decide_tool_input(
    manager: ManagerDep, request_id: FromPath[str], data: JSONBody[wire.ToolInputDecisionBody]
) -> wire.ToolInputDecided:
    """accept sends `answers`; decline / cancel send none; `response` is sent as is. A late
    answer: 404 `already_resolved`, or 409 `in_flight`."""
    try:
        answered = await manager.tool_input.answer(
            request_id,
            decision=data["decision"],
            answers=data.get("answers"),
            response=data.get("response"),
            actor=data.get("actor"),
        )
    except Conflict as exc:
        raise await _late_answer(manager, exc, request_id) from exc
    return wire.tool_input_decided(request_id, answered, data)


# ---------------------------------------------------------------------- dynamic tool calls


@get(
    "/api/sessions/{session_id:str}/tool-calls",
    tags=["requests"],
    summary="List pending dynamic tool-call requests for a session",
    responses=error_responses(404, 410),
)
async def list_tool_calls(manager: ManagerDep, session_id: FromPath[str]) -> wire.ToolCallList:
    """Pending calls of the session's dynamic tools (declared on POST /api/sessions)."""
    return wire.tool_call_list(session_id, await manager.tool_calls.list(session_id))


@post(
    "/api/tool-calls/{request_id:str}/response",
    tags=["requests"],
    summary="Submit dynamic tool-call response",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def respond_tool_call(
    manager: ManagerDep,
    request_id: FromPath[str],
    data: JSONBody[wire.ToolCallResponseBody | None] = None,
) -> wire.ToolCallAnswered:
    """The tool's result: `text` and/or `contentItems` (success true unless said otherwise),
    or a raw `response`. 409 `{status: "conflict", code: "in_flight"}` while another answer
    is being sent; 404 `{status: "not_found", code: "already_resolved"}` once answered (or
    expired)."""
    body = data or {}
    try:
        answered = await manager.tool_calls.respond(
            request_id,
            success=body.get("success", True),
            content_items=cast(Any, body.get("contentItems")),
            text=body.get("text"),
            response=body.get("response"),
            actor=body.get("actor"),
        )
    except Conflict as exc:
        raise await _late_answer(manager, exc, request_id) from exc
    return wire.tool_call_answered(request_id, answered, body)


ROUTES: list[Any] = [
    list_approvals,
    decide_approval,
    list_tool_input,
    decide_tool_input,
    list_tool_calls,
    respond_tool_call,
]

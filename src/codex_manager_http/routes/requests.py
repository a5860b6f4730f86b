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

`reason`, `requestStatus` and `threadId` say more (ours).
"""

from typing import Any, Literal, NotRequired, TypedDict, cast

from litestar import get, post
from litestar.status_codes import HTTP_404_NOT_FOUND

from codex_manager_core import InteractiveRequest
from codex_manager_core.errors import Conflict
from codex_manager_core.views import request_view
from codex_manager_http.app import ManagerDep
from codex_manager_http.routes.sessions import RESHAPED, Reshaped, error_responses, reshaped

ApprovalDecision = Literal[
    "accept",
    "acceptForSession",
    "decline",
    "cancel",
    "approved",
    "approved_for_session",
    "denied",
    "abort",
]


class PendingBase(TypedDict):
    method: str
    threadId: str | None
    turnId: str | None
    itemId: str | None
    summary: str
    details: dict[str, Any]
    """The runtime's request parameters."""
    createdAt: str
    status: str
    expiresAt: NotRequired[str]
    """When the optional server-side timeout expires it."""


class PendingApproval(PendingBase):
    approvalId: str


class QuestionOption(TypedDict):
    label: str
    description: str


class Question(TypedDict):
    id: str
    header: str
    question: str
    options: list[QuestionOption] | None
    isOther: bool
    isSecret: bool


class PendingToolInput(PendingBase):
    requestId: str
    questions: list[Question]


class PendingToolCall(PendingBase):
    requestId: str
    callId: str | None
    tool: str | None
    arguments: Any


class ApprovalList(TypedDict):
    status: str
    sessionId: str
    data: list[PendingApproval]


class ToolInputList(TypedDict):
    status: str
    sessionId: str
    data: list[PendingToolInput]


class ToolCallList(TypedDict):
    status: str
    sessionId: str
    data: list[PendingToolCall]


class ApprovalDecided(TypedDict):
    status: str
    approvalId: str
    threadId: str | None
    decision: str
    scope: str | None


class ToolInputDecided(TypedDict):
    status: str
    requestId: str
    threadId: str | None
    decision: str


class ToolCallAnswered(TypedDict):
    status: str
    requestId: str
    threadId: str | None
    success: bool


class ApprovalDecisionBody(TypedDict):
    decision: ApprovalDecision
    scope: NotRequired[Literal["turn", "session"] | None]
    """session: accept for the rest of the session (acceptForSession)."""
    actor: NotRequired[str | None]


class ToolInputDecisionBody(TypedDict):
    decision: Literal["accept", "decline", "cancel"]
    answers: NotRequired[dict[str, Any] | None]
    """{questionId: {answers: [..]}} (a list or a string per question is accepted too)."""
    response: NotRequired[Any]
    """Sent to the runtime as is, instead of answers."""
    actor: NotRequired[str | None]


class ContentItem(TypedDict):
    type: Literal["inputText", "inputImage"]
    text: NotRequired[str]
    imageUrl: NotRequired[str]


class ToolCallResponseBody(TypedDict):
    success: NotRequired[bool]
    """Default true."""
    contentItems: NotRequired[list[ContentItem] | None]
    text: NotRequired[str | None]
    """Appended as one inputText item."""
    response: NotRequired[Any]
    """Sent to the runtime as is, instead of the above."""
    actor: NotRequired[str | None]


async def _reconciled(manager: ManagerDep, exc: Conflict, approval_id: str) -> Reshaped:
    """A late approval decision: 409 `{status: "reconciled", approvalId, threadId, code}`,
    code `conflict` while another answer is in flight, else `already_resolved`."""
    current = await manager.requests.get(approval_id)
    return reshaped(
        exc,
        "reconciled",
        code="conflict" if exc.code == "in_flight" else "already_resolved",
        reason=exc.code,
        requestStatus=current.status.value,
        threadId=current.thread_id,
        approvalId=approval_id,
    )


async def _late_answer(manager: ManagerDep, exc: Conflict, request_id: str) -> Reshaped:
    """A late tool-input or tool-call answer: 409 `{status: "conflict", code: "in_flight"}`
    while another answer is being sent, else 404 `{status: "not_found", code:
    "already_resolved"}`."""
    current = await manager.requests.get(request_id)
    extra: dict[str, Any] = {
        "reason": exc.code,
        "requestStatus": current.status.value,
        "threadId": current.thread_id,
        "requestId": request_id,
    }
    if exc.code == "in_flight":
        return reshaped(exc, "conflict", code="in_flight", **extra)
    return reshaped(
        exc, "not_found", status_code=HTTP_404_NOT_FOUND, code="already_resolved", **extra
    )


def _views(requests: list[InteractiveRequest]) -> list[Any]:
    return [request_view(request) for request in requests]


# ---------------------------------------------------------------------- approvals


@get(
    "/api/sessions/{session_id:str}/approvals",
    tags=["requests"],
    summary="List pending approvals for a session",
    responses=error_responses(404, 410),
)
async def list_approvals(manager: ManagerDep, session_id: str) -> ApprovalList:
    """Pending approvals, oldest first (no side effects)."""
    pending = await manager.approvals.list(session_id)
    return {"status": "ok", "sessionId": session_id, "data": _views(pending)}


@post(
    "/api/approvals/{approval_id:str}/decision",
    tags=["requests"],
    summary="Submit approval decision",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def decide_approval(
    manager: ManagerDep, approval_id: str, data: ApprovalDecisionBody
) -> ApprovalDecided:
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
    resolution = decided.resolution or {}
    return {
        "status": "ok",
        "approvalId": approval_id,
        "threadId": decided.thread_id,
        "decision": str(resolution.get("decision", data["decision"])),
        "scope": data.get("scope"),
    }


# ---------------------------------------------------------------------- tool input


@get(
    "/api/sessions/{session_id:str}/tool-input",
    tags=["requests"],
    summary="List pending tool-input requests for a session",
    responses=error_responses(404, 410),
)
async def list_tool_input(manager: ManagerDep, session_id: str) -> ToolInputList:
    """Pending questions of the model (request_user_input), with normalized `questions`."""
    pending = await manager.tool_input.list(session_id)
    return {"status": "ok", "sessionId": session_id, "data": _views(pending)}


@post(
    "/api/tool-input/{request_id:str}/decision",
    tags=["requests"],
    summary="Submit tool-input decision",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def decide_tool_input(
    manager: ManagerDep, request_id: str, data: ToolInputDecisionBody
) -> ToolInputDecided:
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
    return {
        "status": "ok",
        "requestId": request_id,
        "threadId": answered.thread_id,
        "decision": data["decision"],
    }


# ---------------------------------------------------------------------- dynamic tool calls


@get(
    "/api/sessions/{session_id:str}/tool-calls",
    tags=["requests"],
    summary="List pending dynamic tool-call requests for a session",
    responses=error_responses(404, 410),
)
async def list_tool_calls(manager: ManagerDep, session_id: str) -> ToolCallList:
    """Pending calls of the session's dynamic tools (declared on POST /api/sessions)."""
    pending = await manager.tool_calls.list(session_id)
    return {"status": "ok", "sessionId": session_id, "data": _views(pending)}


@post(
    "/api/tool-calls/{request_id:str}/response",
    tags=["requests"],
    summary="Submit dynamic tool-call response",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409, 500),
)
async def respond_tool_call(
    manager: ManagerDep, request_id: str, data: ToolCallResponseBody | None = None
) -> ToolCallAnswered:
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
    resolution = answered.resolution or {}
    return {
        "status": "ok",
        "requestId": request_id,
        "threadId": answered.thread_id,
        "success": bool(resolution.get("success", body.get("success", True))),
    }


ROUTES: list[Any] = [
    list_approvals,
    decide_approval,
    list_tool_input,
    decide_tool_input,
    list_tool_calls,
    respond_tool_call,
]

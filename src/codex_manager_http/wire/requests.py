"""Interactive request shapes (the original's sections 1.11 to 1.13): pending approvals,
tool-input questions and dynamic tool calls, the answers to them, and the bodies of a late
answer (`reconciled`, `already_resolved`, `in_flight`)."""

from typing import Any, Literal, NotRequired, TypedDict

from codex_manager_core import InteractiveRequest
from codex_manager_core.errors import Conflict
from codex_manager_core.events.payloads import request_view
from codex_manager_core.models import ApprovalDecision
from codex_manager_http.wire.common import record_of


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
    record: dict[str, Any]
    """Ours: the InteractiveRequest exactly, without `params` (= `details`)."""


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
    request: dict[str, Any]
    """Ours: the answered InteractiveRequest exactly."""


class ToolInputDecided(TypedDict):
    status: str
    requestId: str
    threadId: str | None
    decision: str
    request: dict[str, Any]
    """Ours: the answered InteractiveRequest exactly."""


class ToolCallAnswered(TypedDict):
    status: str
    requestId: str
    threadId: str | None
    success: bool
    request: dict[str, Any]
    """Ours: the answered InteractiveRequest exactly."""


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


# ---------------------------------------------------------------------- answers


def pending(requests: list[InteractiveRequest]) -> list[Any]:
    return [
        {**request_view(request), "record": record_of(request, shown=("params",))}
        for request in requests
    ]


def approval_list(session_id: str, requests: list[InteractiveRequest]) -> ApprovalList:
    return {"status": "ok", "sessionId": session_id, "data": pending(requests)}


def tool_input_list(session_id: str, requests: list[InteractiveRequest]) -> ToolInputList:
    return {"status": "ok", "sessionId": session_id, "data": pending(requests)}


def tool_call_list(session_id: str, requests: list[InteractiveRequest]) -> ToolCallList:
    return {"status": "ok", "sessionId": session_id, "data": pending(requests)}


def approval_decided(
    approval_id: str, decided: InteractiveRequest, body: ApprovalDecisionBody
) -> ApprovalDecided:
    """The decision as the runtime was sent it (a legacy name is translated)."""
    resolution = decided.resolution or {}
    return {
        "status": "ok",
        "approvalId": approval_id,
        "threadId": decided.thread_id,
        "decision": str(resolution.get("decision", body["decision"])),
        "scope": body.get("scope"),
        "request": record_of(decided),
    }


def tool_input_decided(
    request_id: str, answered: InteractiveRequest, body: ToolInputDecisionBody
) -> ToolInputDecided:
    return {
        "status": "ok",
        "requestId": request_id,
        "threadId": answered.thread_id,
        "decision": body["decision"],
        "request": record_of(answered),
    }


def tool_call_answered(
    request_id: str, answered: InteractiveRequest, body: ToolCallResponseBody
) -> ToolCallAnswered:
    resolution = answered.resolution or {}
    return {
        "status": "ok",
        "requestId": request_id,
        "threadId": answered.thread_id,
        "success": bool(resolution.get("success", body.get("success", True))),
        "request": record_of(answered),
    }


# ---------------------------------------------------------------------- late answers


def reconciled(exc: Conflict, approval_id: str, current: InteractiveRequest) -> dict[str, Any]:
    """The extra keys of a late approval decision's 409 `{status: "reconciled"}`: code
    `conflict` while another answer is in flight, else `already_resolved`."""
    return {
        "code": "conflict" if exc.code == "in_flight" else "already_resolved",
        "reason": exc.code,
        "requestStatus": current.status.value,
        "threadId": current.thread_id,
        "approvalId": approval_id,
    }


def late_answer(exc: Conflict, request_id: str, current: InteractiveRequest) -> dict[str, Any]:
    """The extra keys of a late tool-input or tool-call answer (the route picks 409
    `in_flight` or 404 `already_resolved` by `exc.code`)."""
    return {
        "code": "in_flight" if exc.code == "in_flight" else "already_resolved",
        "reason": exc.code,
        "requestStatus": current.status.value,
        "threadId": current.thread_id,
        "requestId": request_id,
    }

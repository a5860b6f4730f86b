"""The rules of interactive requests: which server requests they are, their events, and how
an answer is put on the wire (approval decisions and their legacy names, user-input answers).
Pure functions; the services in requests.py, request_lifecycle.py and request_intake.py use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, get_args

from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import ApprovalDecision, RequestKind, RequestStatus

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

APPROVAL_DECISIONS: Final = get_args(ApprovalDecision)
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


def request_params(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def item_id_of(params: Mapping[str, Any]) -> str | None:
    value = params.get("itemId") or params.get("callId")
    return value if isinstance(value, str) else None


def normalize_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
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

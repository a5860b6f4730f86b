"""The wire shapes of the original Codex Manager, built from our models.

Events carry these dicts as payloads and the HTTP host returns them, so a client of the
original sees the same objects whether it reads a list or listens on the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from codex_manager_core.models import (
    InteractiveRequest,
    Project,
    RequestKind,
    SessionRecord,
)
from codex_manager_core.serde import iso, to_json


def project_view(project: Project) -> dict[str, Any]:
    return {
        "projectId": project.project_id,
        "name": project.name,
        "workingDirectory": project.working_directory,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


def session_view(record: SessionRecord) -> dict[str, Any]:
    return {
        "sessionId": record.session_id,
        "threadId": record.session_id,
        "title": record.title,
        "preview": record.preview,
        "cwd": record.cwd,
        "projectId": record.project_id,
        "archived": record.archived,
        "systemOwned": record.system_owned,
        "materialized": record.materialized,
        "status": record.status,
        "model": record.model,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "activeTurnId": record.active_turn_id,
        "lastTurnId": record.last_turn_id,
    }


def session_ref(record: SessionRecord | None) -> dict[str, Any] | None:
    """The `session` member of an app_server event envelope."""
    if record is None:
        return None
    return {"id": record.session_id, "title": record.title, "projectId": record.project_id}


def app_server_envelope(
    *,
    signal_type: str,
    event_type: str,
    method: str,
    received_at: datetime,
    params: Any,
    session: SessionRecord | None,
    thread_id: str | None,
    turn_id: str | None,
    request_id: str | None = None,
    emitted_at_ms: Any = None,
) -> dict[str, Any]:
    """The payload of an `app_server.*` event (the original's envelope)."""
    envelope: dict[str, Any] = {
        "source": "app_server",
        "signalType": signal_type,
        "eventType": event_type,
        "method": method,
        "receivedAt": iso(received_at),
        "context": {"threadId": thread_id, "turnId": turn_id},
        "params": params,
        "session": session_ref(session),
    }
    if request_id is not None:
        envelope["requestId"] = request_id
    if emitted_at_ms is not None:
        envelope["emittedAtMs"] = emitted_at_ms
    return envelope


def _summary(request: InteractiveRequest) -> str:
    params = request.params
    if request.kind is RequestKind.APPROVAL:
        command = params.get("command")
        if isinstance(command, list):
            command = " ".join(str(part) for part in command)
        if command:
            return f"Run command: {command}"
        if "fileChange" in request.method or "Patch" in request.method:
            return "Apply file changes"
        if "permissions" in request.method:
            return "Grant additional permissions"
        reason = params.get("reason")
        return str(reason) if reason else f"Approve {request.method}"
    if request.kind is RequestKind.USER_INPUT:
        questions = params.get("questions") or []
        if questions and isinstance(questions[0], dict):
            return str(questions[0].get("question") or questions[0].get("header") or "")
        return "Answer a question"
    return f"Call tool {params.get('tool')}"


def normalize_questions(params: Any) -> list[dict[str, Any]]:
    questions = params.get("questions") if isinstance(params, dict) else None
    result = []
    for question in questions if isinstance(questions, list) else []:
        if not isinstance(question, dict):
            continue
        options = question.get("options")
        result.append(
            {
                "id": question.get("id"),
                "header": question.get("header"),
                "question": question.get("question"),
                "options": [
                    {"label": option.get("label"), "description": option.get("description")}
                    for option in options
                    if isinstance(option, dict)
                ]
                if isinstance(options, list)
                else None,
                "isOther": bool(question.get("isOther")),
                "isSecret": bool(question.get("isSecret")),
            }
        )
    return result


def request_view(request: InteractiveRequest) -> dict[str, Any]:
    """The list/event shape of a pending request, by kind (approval, tool input, tool call)."""
    base: dict[str, Any] = {
        "method": request.method,
        "threadId": request.thread_id,
        "turnId": request.turn_id,
        "itemId": request.item_id,
        "summary": _summary(request),
        "details": request.params,
        "createdAt": iso(request.created_at),
        "status": request.status.value,
    }
    if request.expires_at is not None:
        base["expiresAt"] = iso(request.expires_at)
    if request.kind is RequestKind.APPROVAL:
        return {"approvalId": request.request_id, **base}
    if request.kind is RequestKind.USER_INPUT:
        return {
            "requestId": request.request_id,
            **base,
            "questions": normalize_questions(request.params),
        }
    return {
        "requestId": request.request_id,
        **base,
        "callId": request.params.get("callId"),
        "tool": request.params.get("tool"),
        "arguments": request.params.get("arguments"),
    }


def request_record_view(request: InteractiveRequest) -> dict[str, Any]:
    """Every field of a request (for our own APIs), camelCase."""
    data: dict[str, Any] = to_json(request)
    return data

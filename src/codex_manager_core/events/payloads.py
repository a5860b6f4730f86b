"""Event payloads: the original Codex Manager's shapes, built from our models.

An event's payload is JSON by nature (it is stored in the ledger and streamed as is), and
its shape is the original's stream contract, so the core builds these dicts when it writes
an event. Nothing else of the core returns a wire dict: results are attrs models. The HTTP
wire module (`codex_manager_http/wire/`) reuses these builders where a REST body is the
same object as an event's (a session, a project, a request), so a client of the original
sees the same objects whether it reads a list or listens on the stream.

The original's types are kept where it had them (apps/api/openapi/openapi.json of
jmillpps/codex-manager): session times are unix seconds (numbers, like codex's own Thread),
transcript times are epoch milliseconds, transcript `details` is JSON text. Our own fields
come after the original's and never reuse one of its names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from codex_manager_core.models import (
    Controls,
    InteractiveRequest,
    Project,
    RequestKind,
    SessionRecord,
)
from codex_manager_core.serde import iso, to_json

#: `modelProvider` of a session the runtime never reported one for (a session stored
#: before we kept it): codex's default provider. The thread's own value (from the runtime,
#: or stored with the session) always wins.
DEFAULT_MODEL_PROVIDER: Final = "openai"
#: `source` of a session whose thread is not at hand: app-server threads report "vscode".
DEFAULT_SOURCE: Final = "vscode"
#: The original's message for a hard-deleted session (410 bodies, `session_deleted`).
DELETED_MESSAGE: Final = "This chat was permanently deleted and is no longer available."


def epoch_seconds(value: datetime) -> int:
    """Unix seconds (codex's Thread.createdAt/updatedAt; the original's session times)."""
    return int(value.timestamp())


def epoch_ms(value: datetime | None) -> int | None:
    """Epoch milliseconds (the original's transcript times)."""
    return None if value is None else round(value.timestamp() * 1000)


def coerce_epoch_ms(value: Any) -> int | None:
    """A runtime time as epoch milliseconds, like the original's `coerceEpochMs`: numbers up
    to 1e10 are seconds, larger ones milliseconds; numeric or ISO-8601 strings too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value <= 0 or value != value:  # NaN
            return None
        return round(value) if value > 10_000_000_000 else round(value * 1000)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return coerce_epoch_ms(float(text))
        except ValueError:
            pass
        try:
            return epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def details_text(value: Any) -> str | None:
    """Transcript `details` as the original sends it: JSON text (a string stays as is)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def source_label(source: Any) -> str:
    """The original's `sourceLabel`: codex's thread source as one word."""
    if isinstance(source, str):
        return source
    if isinstance(source, Mapping) and "subAgent" in source:
        return "subAgent"
    return "unknown"


def project_view(project: Project) -> dict[str, Any]:
    return {
        "projectId": project.project_id,
        "name": project.name,
        "workingDirectory": project.working_directory,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


def controls_view(controls: Controls) -> dict[str, Any]:
    """`{model, approvalPolicy, networkAccess, filesystemSandbox, settings}`."""
    data: dict[str, Any] = to_json(controls)
    return data


def session_view(record: SessionRecord, thread: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The original's SessionSummary, then ours. `thread` (the runtime's, when the caller
    has it) supplies `source`, which we do not store, and `modelProvider`, which we store
    from thread/start (or thread/fork)."""
    provider = thread.get("modelProvider") if thread is not None else None
    if not isinstance(provider, str) or not provider:
        provider = record.model_provider
    return {
        # The original's SessionSummary.
        "sessionId": record.session_id,
        "title": record.title,
        "materialized": record.materialized,
        "modelProvider": provider or DEFAULT_MODEL_PROVIDER,
        "approvalPolicy": record.controls.approval_policy,
        "sessionControls": controls_view(record.controls),
        "createdAt": epoch_seconds(record.created_at),
        "updatedAt": epoch_seconds(record.updated_at),
        "cwd": record.cwd or "",
        "source": source_label(thread["source"])
        if thread is not None and "source" in thread
        else DEFAULT_SOURCE,
        "projectId": record.project_id,
        # Ours.
        "threadId": record.session_id,
        "preview": record.preview,
        "archived": record.archived,
        "systemOwned": record.system_owned,
        "status": record.status,
        "model": record.model,
        "activeTurnId": record.active_turn_id,
        "lastTurnId": record.last_turn_id,
    }


def deleted_view(session_id: str, title: str | None, deleted_at: datetime) -> dict[str, Any]:
    """The original's DeletedSessionPayload (410 bodies and the `session_deleted` event)."""
    return {
        "status": "deleted",
        "sessionId": session_id,
        "title": title,
        "message": DELETED_MESSAGE,
        "deletedAt": iso(deleted_at),
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


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def normalize_questions(params: Any) -> list[dict[str, Any]]:
    questions = params.get("questions") if isinstance(params, dict) else None
    result = []
    for question in questions if isinstance(questions, list) else []:
        if not isinstance(question, dict):
            continue
        options = question.get("options")
        result.append(
            {
                # Strings, as the original's ToolUserInputQuestion has them.
                "id": _text(question.get("id")),
                "header": _text(question.get("header")),
                "question": _text(question.get("question")),
                "options": [
                    {
                        "label": _text(option.get("label")),
                        "description": _text(option.get("description")),
                    }
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


def stand_in_thread(record: SessionRecord) -> dict[str, Any]:
    """A codex Thread built from our record, for a thread the runtime cannot read (one
    without a rollout that an earlier runtime process held, or files codex cannot read)."""
    summary = session_view(record)
    return {
        "id": record.session_id,
        "preview": record.preview,
        "modelProvider": summary["modelProvider"],
        "createdAt": summary["createdAt"],
        "updatedAt": summary["updatedAt"],
        "cwd": summary["cwd"],
        "source": summary["source"],
        "turns": [],
        "materialized": record.materialized,
    }


def is_thread(thread: Any, session_id: str) -> bool:
    """A real codex Thread (not the stand-in `read_thread` gives for a thread it cannot read
    with turns)."""
    return (
        isinstance(thread, Mapping)
        and thread.get("id") == session_id
        and "modelProvider" in thread
        and "createdAt" in thread
    )


def thread_or_stand_in(thread: Any, record: SessionRecord) -> dict[str, Any]:
    """The runtime's thread as read, or one built from our record when it is not a codex
    Thread (a thread with no rollout, or files codex cannot read)."""
    if is_thread(thread, record.session_id):
        return dict(thread)
    return stand_in_thread(record)

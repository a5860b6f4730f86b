"""Session shapes (the original's sections 1.6 and 1.7): the SessionSummary view, lists,
the session with its runtime thread, and the lifecycle answers (rename, archive, resume,
project, delete, fork).

Lists carry both the original's `data` and a named key.
"""

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

from codex_manager_core import DeletedSession, SessionRecord
from codex_manager_core.events.payloads import session_view, thread_or_stand_in
from codex_manager_core.ports.store import Page
from codex_manager_core.serde import iso_exact
from codex_manager_http.wire.common import (
    ApprovalPolicy,
    FilesystemSandbox,
    NetworkAccess,
    record_of,
)
from codex_manager_http.wire.transcript import TranscriptRow


class SessionControlsTuple(TypedDict):
    model: str | None
    approvalPolicy: ApprovalPolicy
    networkAccess: NetworkAccess
    filesystemSandbox: FilesystemSandbox
    settings: dict[str, Any]


class SessionView(TypedDict):
    """The original's SessionSummary (sessionId ... projectId), then ours."""

    sessionId: str
    title: str
    materialized: bool
    """False until the first message (codex keeps no rollout before it)."""
    modelProvider: str
    approvalPolicy: ApprovalPolicy
    sessionControls: SessionControlsTuple
    createdAt: int
    """Unix seconds (as codex's Thread)."""
    updatedAt: int
    """Unix seconds."""
    cwd: str
    source: str
    projectId: str | None
    threadId: str
    preview: str
    archived: bool
    systemOwned: bool
    status: str
    """The runtime's thread status: idle, active, notLoaded, systemError."""
    model: str | None
    activeTurnId: str | None
    lastTurnId: str | None
    record: dict[str, Any]
    """Ours: the SessionRecord exactly, without `controls` (= `sessionControls`)."""


class SessionList(TypedDict):
    status: str
    sessions: list[SessionView]
    data: list[SessionView]
    """The same list under the original's key."""
    nextCursor: str | None
    archived: bool | None


class SessionResult(TypedDict):
    status: str
    session: SessionView


class SessionWithThread(TypedDict):
    status: str
    session: SessionView
    thread: dict[str, Any]
    """The runtime's thread (codex's Thread: id, preview, modelProvider, createdAt, ...)."""


class ForkResult(SessionWithThread):
    sourceSessionId: str


class SessionDetail(TypedDict):
    status: str
    session: SessionView
    thread: dict[str, Any]
    """The runtime's thread with its turns (`thread/read` includeTurns)."""
    transcript: list[TranscriptRow]
    """The whole transcript (GET .../transcript pages it)."""


class DeleteResult(TypedDict):
    status: str
    sessionId: str
    title: str
    deletedFileCount: int
    deletedAt: str
    """Ours: when it was deleted (microseconds)."""


class ArchiveResult(TypedDict):
    status: str
    sessionId: str
    session: SessionView


class ProjectAssignment(TypedDict):
    status: str
    sessionId: str
    projectId: str | None
    previousProjectId: str | None


# ---------------------------------------------------------------------- request bodies


class DynamicTool(TypedDict):
    name: str
    description: NotRequired[str]
    inputSchema: NotRequired[dict[str, Any]]
    type: NotRequired[str]


class CreateSessionBody(TypedDict):
    cwd: NotRequired[str | None]
    model: NotRequired[str | None]
    approvalPolicy: NotRequired[ApprovalPolicy | None]
    networkAccess: NotRequired[NetworkAccess | None]
    filesystemSandbox: NotRequired[FilesystemSandbox | None]
    dynamicTools: NotRequired[list[DynamicTool] | None]
    """At most 128; answered through POST /api/tool-calls/{requestId}/response."""
    title: NotRequired[str | None]
    projectId: NotRequired[str | None]


class RenameBody(TypedDict):
    title: str


class ResumeBody(TypedDict):
    dynamicTools: NotRequired[list[DynamicTool] | None]
    """Declared when the session is created: the same catalog again is accepted (and changes
    nothing), another one is refused (400)."""


class ProjectBody(TypedDict):
    projectId: str | None


class ForkBody(TypedDict):
    title: NotRequired[str | None]


# ---------------------------------------------------------------------- answers


def session(record: SessionRecord, thread: Mapping[str, Any] | None = None) -> SessionView:
    """The original's SessionSummary of `record` (with the runtime's `thread` if read)."""
    view = session_view(record, thread)
    view["record"] = record_of(record, shown=("controls",))
    return cast(SessionView, view)


def session_list(page: Page, *, archived: bool) -> SessionList:
    sessions = [session(record) for record in page.items]
    return {
        "status": "ok",
        "sessions": sessions,
        "data": sessions,
        "nextCursor": page.next_cursor,
        "archived": archived,
    }


def session_result(record: SessionRecord) -> SessionResult:
    return {"status": "ok", "session": session(record)}


def with_thread(record: SessionRecord, thread: Any) -> SessionWithThread:
    """The session and its thread (`thread` as the runtime answered; a stand-in when it is
    not a codex Thread)."""
    shown = thread_or_stand_in(thread, record)
    return {"status": "ok", "session": session(record, shown), "thread": shown}


def forked(source_id: str, record: SessionRecord, thread: Any) -> ForkResult:
    shown = thread_or_stand_in(thread, record)
    return {
        "status": "ok",
        "sourceSessionId": source_id,
        "session": session(record, shown),
        "thread": shown,
    }


def detail(
    record: SessionRecord, thread: Mapping[str, Any], transcript: list[TranscriptRow]
) -> SessionDetail:
    return {
        "status": "ok",
        "session": session(record, thread),
        "thread": dict(thread),
        "transcript": transcript,
    }


def deleted(result: DeletedSession) -> DeleteResult:
    return {
        "status": "ok",
        "sessionId": result.session_id,
        "title": result.title,
        "deletedFileCount": result.files_removed,
        "deletedAt": iso_exact(result.deleted_at) or "",
    }


def archived(session_id: str, record: SessionRecord) -> ArchiveResult:
    return {"status": "ok", "sessionId": session_id, "session": session(record)}


def project_assignment(
    session_id: str, project_id: str | None, previous_project_id: str | None
) -> ProjectAssignment:
    return {
        "status": "ok",
        "sessionId": session_id,
        "projectId": project_id,
        "previousProjectId": previous_project_id,
    }

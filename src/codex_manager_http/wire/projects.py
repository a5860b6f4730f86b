"""Project shapes (the original's section 1.5): the project view, lists under `data` (ours
also under a named key), and the answers of the project routes."""

from typing import Any, Literal, NotRequired, TypedDict, cast

from codex_manager_core import (
    AgentSession as CoreAgentSession,
)
from codex_manager_core import (
    Project,
    ProjectSessionsDeleted,
    ProjectSessionsMoved,
)
from codex_manager_core.events.payloads import project_view
from codex_manager_http.wire.common import record_of
from codex_manager_http.wire.sessions import session


class ProjectView(TypedDict):
    projectId: str
    name: str
    workingDirectory: str | None
    createdAt: str
    updatedAt: str
    record: dict[str, Any]
    """Ours: the Project exactly (times in microseconds)."""


class ProjectList(TypedDict):
    status: str
    data: list[ProjectView]
    """Sorted by name (the original's key)."""
    projects: list[ProjectView]
    """The same list."""


class ProjectResult(TypedDict):
    status: str
    project: ProjectView


class ProjectCreated(ProjectResult):
    orchestrationSession: None
    """Always null (the original's field)."""


class ProjectDeleted(TypedDict):
    status: str
    projectId: str
    unassignedSessionCount: int


class CreateProjectBody(TypedDict):
    name: str
    workingDirectory: NotRequired[str | None]
    """Where the project's sessions run: the absolute path of an existing directory."""


class RenameProjectBody(TypedDict):
    name: str
    workingDirectory: NotRequired[str | None]
    """Leave it out to keep the current one; null clears it."""


class MoveAllBody(TypedDict):
    destination: Literal["unassigned", "archive"]


class AgentSession(TypedDict):
    agent: str | None
    sessionId: str
    systemOwned: bool
    session: dict[str, Any]
    """Ours: the session's summary."""


class AgentSessions(TypedDict):
    status: str
    projectId: str
    data: list[AgentSession]
    sessions: list[AgentSession]
    """The same list."""


class MovedAll(TypedDict):
    status: str
    projectId: str
    destination: str
    movedSessionCount: int
    archivedSessionCount: int
    alreadyArchivedSessionCount: int


class DeletedAll(TypedDict):
    status: str
    projectId: str
    deletedSessionCount: int
    skippedSessionCount: int


# ---------------------------------------------------------------------- answers


def project(value: Project) -> ProjectView:
    return cast(ProjectView, {**project_view(value), "record": record_of(value)})


def project_list(projects: list[Project]) -> ProjectList:
    views = [project(p) for p in projects]
    return {"status": "ok", "data": views, "projects": views}


def project_created(value: Project) -> ProjectCreated:
    return {"status": "ok", "project": project(value), "orchestrationSession": None}


def project_result(value: Project) -> ProjectResult:
    return {"status": "ok", "project": project(value)}


def project_deleted(project_id: str) -> ProjectDeleted:
    return {"status": "ok", "projectId": project_id, "unassignedSessionCount": 0}


def agent_sessions(project_id: str, records: list[CoreAgentSession]) -> AgentSessions:
    """The project's (or chat's) system-owned (worker) sessions, with their agent."""
    sessions: list[AgentSession] = [
        {
            "agent": record.agent,
            "sessionId": record.session_id,
            "systemOwned": True,
            "session": dict(session(record.session)),
        }
        for record in records
    ]
    return {"status": "ok", "projectId": project_id, "data": sessions, "sessions": sessions}


def moved_all(result: ProjectSessionsMoved) -> MovedAll:
    moved, archived, destination = result.moved, result.archived, result.destination
    return {
        "status": "ok",
        "projectId": result.project_id,
        "destination": destination,
        "movedSessionCount": moved,
        "archivedSessionCount": archived,
        "alreadyArchivedSessionCount": moved - archived if destination == "archive" else 0,
    }


def deleted_all(result: ProjectSessionsDeleted) -> DeletedAll:
    return {
        "status": "ok",
        "projectId": result.project_id,
        "deletedSessionCount": result.deleted,
        "skippedSessionCount": result.skipped,
    }

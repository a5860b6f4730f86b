"""Project routes (the original's section 1.5).

Bodies keep the original's shapes: lists under `data` (ours also under a named key), 409s
with the original's `status` word (`duplicate_name`, `project_not_empty`,
`not_materialized_sessions`) and its fields.
"""

from typing import Any, Literal, NotRequired, TypedDict, cast

from litestar import delete, get, post

from codex_manager_core.errors import Conflict
from codex_manager_core.services.controls import KEEP
from codex_manager_core.views import project_view, session_view
from codex_manager_http.app import ManagerDep
from codex_manager_http.routes.sessions import RESHAPED, error_responses, reshaped


class ProjectView(TypedDict):
    projectId: str
    name: str
    workingDirectory: str | None
    createdAt: str
    updatedAt: str


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


async def _duplicate(manager: ManagerDep, exc: Conflict, name: str) -> Exception:
    """409 `{status: "duplicate_name", projectId}` (the project that has the name)."""
    wanted = name.strip().casefold()
    existing = next(
        (p.project_id for p in await manager.projects.list() if p.name.casefold() == wanted),
        None,
    )
    return reshaped(exc, "duplicate_name", projectId=existing)


@get("/api/projects", tags=["projects"], summary="List projects")
async def list_projects(manager: ManagerDep) -> ProjectList:
    projects = cast(list[ProjectView], [project_view(p) for p in await manager.projects.list()])
    return {"status": "ok", "data": projects, "projects": projects}


@post(
    "/api/projects",
    tags=["projects"],
    summary="Create a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 409),
)
async def create_project(manager: ManagerDep, data: CreateProjectBody) -> ProjectCreated:
    """409 `{status: "duplicate_name", projectId}`: names are unique case-insensitively."""
    try:
        project = await manager.projects.create(data["name"], data.get("workingDirectory"))
    except Conflict as exc:
        if exc.code != "duplicate_name":
            raise
        raise await _duplicate(manager, exc, data["name"]) from exc
    return {
        "status": "ok",
        "project": cast(ProjectView, project_view(project)),
        "orchestrationSession": None,
    }


@post(
    "/api/projects/{project_id:str}/rename",
    tags=["projects"],
    summary="Rename a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409),
)
async def rename_project(
    manager: ManagerDep, project_id: str, data: RenameProjectBody
) -> ProjectResult:
    # Left out: keep the directory (the core's own "keep" value); null clears it.
    directory = data.get("workingDirectory", KEEP)
    try:
        project = await manager.projects.rename(project_id, data["name"], directory)
    except Conflict as exc:
        if exc.code != "duplicate_name":
            raise
        raise await _duplicate(manager, exc, data["name"]) from exc
    return {"status": "ok", "project": cast(ProjectView, project_view(project))}


@delete(
    "/api/projects/{project_id:str}",
    tags=["projects"],
    summary="Delete a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(404, 409),
)
async def delete_project(manager: ManagerDep, project_id: str) -> ProjectDeleted:
    """409 `{status: "project_not_empty", projectId, sessionCount}` while user sessions are
    in it (worker sessions are unassigned)."""
    try:
        await manager.projects.delete(project_id)
    except Conflict as exc:
        if exc.code != "project_not_empty":
            raise
        count = exc.details.get("sessionCount") if isinstance(exc.details, dict) else None
        raise reshaped(exc, "project_not_empty", projectId=project_id, sessionCount=count) from exc
    return {"status": "ok", "projectId": project_id, "unassignedSessionCount": 0}


@get(
    "/api/projects/{project_id:str}/agent-sessions",
    tags=["projects"],
    summary="List project-owned agent sessions",
)
async def agent_sessions(manager: ManagerDep, project_id: str) -> AgentSessions:
    """System-owned (worker) sessions of the project."""
    await manager.projects.get(project_id)
    page = await manager.sessions.list(
        archived=None, include_system_owned=True, project_id=project_id, limit=200
    )
    sessions: list[AgentSession] = [
        {
            "agent": None,
            "sessionId": record.session_id,
            "systemOwned": True,
            "session": session_view(record),
        }
        for record in page.items
        if record.system_owned
    ]
    return {"status": "ok", "projectId": project_id, "data": sessions, "sessions": sessions}


@post(
    "/api/projects/{project_id:str}/chats/move-all",
    tags=["projects"],
    summary="Move all project chats",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409),
)
async def move_all(manager: ManagerDep, project_id: str, data: MoveAllBody) -> MovedAll:
    """409 `{status: "not_materialized_sessions", projectId, sessionIds}` when archiving
    chats that have no rollout yet."""
    try:
        result = await manager.projects.move_sessions(project_id, data["destination"])
    except Conflict as exc:
        if exc.code != "not_materialized_sessions":
            raise
        ids = exc.details.get("sessionIds") if isinstance(exc.details, dict) else None
        raise reshaped(
            exc, "not_materialized_sessions", projectId=project_id, sessionIds=ids or []
        ) from exc
    moved, archived = result["movedSessionCount"], result["archivedSessionCount"]
    return {
        "status": "ok",
        "projectId": project_id,
        "destination": data["destination"],
        "movedSessionCount": moved,
        "archivedSessionCount": archived,
        "alreadyArchivedSessionCount": moved - archived if data["destination"] == "archive" else 0,
    }


@post(
    "/api/projects/{project_id:str}/chats/delete-all",
    tags=["projects"],
    summary="Delete all project chats",
    status_code=200,
)
async def delete_all(manager: ManagerDep, project_id: str) -> DeletedAll:
    result = await manager.projects.delete_sessions(project_id)
    return {
        "status": "ok",
        "projectId": project_id,
        "deletedSessionCount": result["deletedSessionCount"],
        "skippedSessionCount": result["skippedSessionCount"],
    }


ROUTES = [
    list_projects,
    create_project,
    rename_project,
    delete_project,
    agent_sessions,
    move_all,
    delete_all,
]

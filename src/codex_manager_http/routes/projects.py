"""Project routes (the original's section 1.5)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from litestar import delete, get, post

from codex_manager_core.views import project_view, session_view
from codex_manager_http.app import ManagerDep

UNSET: Any = object()


class ProjectView(TypedDict):
    projectId: str
    name: str
    workingDirectory: str | None
    createdAt: str
    updatedAt: str


class ProjectList(TypedDict):
    status: str
    projects: list[ProjectView]


class ProjectResult(TypedDict):
    status: str
    project: ProjectView


class CreateProjectBody(TypedDict):
    name: str
    workingDirectory: NotRequired[str | None]


class RenameProjectBody(TypedDict):
    name: str
    workingDirectory: NotRequired[str | None]


class MoveAllBody(TypedDict):
    destination: Literal["unassigned", "archive"]


class AgentSessions(TypedDict):
    status: str
    projectId: str
    sessions: list[dict[str, Any]]


@get("/api/projects", tags=["projects"], summary="List projects")
async def list_projects(manager: ManagerDep) -> ProjectList:
    projects = await manager.list_projects()
    return {"status": "ok", "projects": [project_view(p) for p in projects]}  # type: ignore[misc]


@post("/api/projects", tags=["projects"], summary="Create a project", status_code=200)
async def create_project(manager: ManagerDep, data: CreateProjectBody) -> ProjectResult:
    project = await manager.create_project(data["name"], data.get("workingDirectory"))
    return {"status": "ok", "project": project_view(project)}  # type: ignore[typeddict-item]


@post(
    "/api/projects/{project_id:str}/rename",
    tags=["projects"],
    summary="Rename a project",
    status_code=200,
)
async def rename_project(
    manager: ManagerDep, project_id: str, data: RenameProjectBody
) -> ProjectResult:
    directory = data.get("workingDirectory", UNSET)
    project = await manager.rename_project(project_id, data["name"], directory)
    return {"status": "ok", "project": project_view(project)}  # type: ignore[typeddict-item]


@delete(
    "/api/projects/{project_id:str}", tags=["projects"], summary="Delete a project", status_code=200
)
async def delete_project(manager: ManagerDep, project_id: str) -> dict[str, Any]:
    await manager.delete_project(project_id)
    return {"status": "ok", "projectId": project_id}


@get(
    "/api/projects/{project_id:str}/agent-sessions",
    tags=["projects"],
    summary="List project-owned agent sessions",
)
async def agent_sessions(manager: ManagerDep, project_id: str) -> AgentSessions:
    """System-owned (worker) sessions of the project."""
    await manager.get_project(project_id)
    page = await manager.list_sessions(
        archived=None, include_system_owned=True, project_id=project_id, limit=200
    )
    sessions = [
        {
            "agent": None,
            "sessionId": record.session_id,
            "systemOwned": True,
            "session": session_view(record),
        }
        for record in page.items
        if record.system_owned
    ]
    return {"status": "ok", "projectId": project_id, "sessions": sessions}


@post(
    "/api/projects/{project_id:str}/chats/move-all",
    tags=["projects"],
    summary="Move all project chats",
    status_code=200,
)
async def move_all(manager: ManagerDep, project_id: str, data: MoveAllBody) -> dict[str, Any]:
    result = await manager.move_project_sessions(project_id, data["destination"])
    return {"status": "ok", **result}


@post(
    "/api/projects/{project_id:str}/chats/delete-all",
    tags=["projects"],
    summary="Delete all project chats",
    status_code=200,
)
async def delete_all(manager: ManagerDep, project_id: str) -> dict[str, Any]:
    result = await manager.delete_project_sessions(project_id)
    return {"status": "ok", **result}


ROUTES = [
    list_projects,
    create_project,
    rename_project,
    delete_project,
    agent_sessions,
    move_all,
    delete_all,
]

"""Project routes (the original's section 1.5).

The shapes are in `wire/projects.py`. 409s carry the original's `status` word
(`duplicate_name`, `project_not_empty`, `not_materialized_sessions`) and its fields.
"""

from typing import Any

from litestar import delete, get, post
from litestar.params import FromPath, JSONBody

from codex_manager_core import KEEP
from codex_manager_core.errors import Conflict
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, error_responses, reshaped
from codex_manager_http.wire import projects as wire


async def _duplicate(manager: ManagerDep, exc: Conflict, name: str) -> Exception:
    """409 `{status: "duplicate_name", projectId}` (the project that has the name)."""
    wanted = name.strip().casefold()
    existing = next(
        (p.project_id for p in await manager.projects.list() if p.name.casefold() == wanted),
        None,
    )
    return reshaped(exc, "duplicate_name", projectId=existing)


@get("/api/projects", tags=["projects"], summary="List projects")
async def list_projects(manager: ManagerDep) -> wire.ProjectList:
    return wire.project_list(await manager.projects.list())


@post(
    "/api/projects",
    tags=["projects"],
    summary="Create a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 409),
)
async def create_project(
    manager: ManagerDep, data: JSONBody[wire.CreateProjectBody]
) -> wire.ProjectCreated:
    """409 `{status: "duplicate_name", projectId}`: names are unique case-insensitively."""
    try:
        project = await manager.projects.create(data["name"], data.get("workingDirectory"))
    except Conflict as exc:
        if exc.code != "duplicate_name":
            raise
        raise await _duplicate(manager, exc, data["name"]) from exc
    return wire.project_created(project)


@post(
    "/api/projects/{project_id:str}/rename",
    tags=["projects"],
    summary="Rename a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409),
)
async def rename_project(
    manager: ManagerDep, project_id: FromPath[str], data: JSONBody[wire.RenameProjectBody]
) -> wire.ProjectResult:
    # Left out: keep the directory (the core's own "keep" value); null clears it.
    directory = data.get("workingDirectory", KEEP)
    try:
        project = await manager.projects.rename(project_id, data["name"], directory)
    except Conflict as exc:
        if exc.code != "duplicate_name":
            raise
        raise await _duplicate(manager, exc, data["name"]) from exc
    return wire.project_result(project)


@delete(
    "/api/projects/{project_id:str}",
    tags=["projects"],
    summary="Delete a project",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(404, 409),
)
async def delete_project(manager: ManagerDep, project_id: FromPath[str]) -> wire.ProjectDeleted:
    """409 `{status: "project_not_empty", projectId, sessionCount}` while user sessions are
    in it (worker sessions are unassigned)."""
    try:
        await manager.projects.delete(project_id)
    except Conflict as exc:
        if exc.code != "project_not_empty":
            raise
        count = exc.details.get("sessionCount") if isinstance(exc.details, dict) else None
        raise reshaped(exc, "project_not_empty", projectId=project_id, sessionCount=count) from exc
    return wire.project_deleted(project_id)


@get(
    "/api/projects/{project_id:str}/agent-sessions",
    tags=["projects"],
    summary="List project-owned agent sessions",
)
async def agent_sessions(manager: ManagerDep, project_id: FromPath[str]) -> wire.AgentSessions:
    """System-owned (worker) sessions of the project."""
    return wire.agent_sessions(project_id, await manager.projects.agent_sessions(project_id))


@post(
    "/api/projects/{project_id:str}/chats/move-all",
    tags=["projects"],
    summary="Move all project chats",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404, 409),
)
async def move_all(
    manager: ManagerDep, project_id: FromPath[str], data: JSONBody[wire.MoveAllBody]
) -> wire.MovedAll:
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
    return wire.moved_all(result)


@post(
    "/api/projects/{project_id:str}/chats/delete-all",
    tags=["projects"],
    summary="Delete all project chats",
    status_code=200,
)
async def delete_all(manager: ManagerDep, project_id: FromPath[str]) -> wire.DeletedAll:
    return wire.deleted_all(await manager.projects.delete_sessions(project_id))


ROUTES: list[Any] = [
    list_projects,
    create_project,
    rename_project,
    delete_project,
    agent_sessions,
    move_all,
    delete_all,
]

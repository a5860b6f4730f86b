"""Session routes (the original's sections 1.6 and 1.7): create, list, read and delete a
session, and its lifecycle (rename, archive, unarchive, resume, project).

The shapes are in `wire/sessions.py`. Errors come from the Manager (errors.py maps them);
where the original answered a specific body (`not_materialized`, `project_not_found`) the
route reshapes it.
"""

from typing import Annotated, Any, cast

from litestar import delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from codex_manager_core.errors import Conflict, NotFound
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, error_responses, reshaped
from codex_manager_http.routes.session_support import check_dynamic_tools
from codex_manager_http.wire import sessions as wire
from codex_manager_http.wire.transcript import rows


@get(
    "/api/sessions",
    tags=["sessions"],
    summary="List sessions",
    responses=error_responses(400),
)
async def list_sessions(
    manager: ManagerDep,
    archived: Annotated[
        bool, QueryParameter(description="Archived sessions instead of live ones")
    ] = False,
    cursor: Annotated[
        str | None, QueryParameter(description="nextCursor of the previous page")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 100,
    include_system_owned: Annotated[
        bool, QueryParameter(name="includeSystemOwned", description="Include worker sessions")
    ] = False,
    project_id: Annotated[
        str | None,
        QueryParameter(
            name="projectId", description='Only this project\'s sessions ("" = unassigned)'
        ),
    ] = None,
) -> wire.SessionList:
    """Most recently updated first, from the manager's store (no runtime call)."""
    page = await manager.sessions.list(
        archived=archived,
        include_system_owned=include_system_owned,
        project_id=project_id,
        cursor=cursor,
        limit=limit,
    )
    return wire.session_list(page, archived=archived)


@post(
    "/api/sessions",
    tags=["sessions"],
    summary="Create a session",
    status_code=200,
    responses=error_responses(400, 404, 503),
)
async def create_session(
    manager: ManagerDep, data: JSONBody[wire.CreateSessionBody | None] = None
) -> wire.SessionWithThread:
    """Starts a codex thread. Controls start as a copy of the defaults with these overrides."""
    body = data or {}
    started = await manager.sessions.start(
        cwd=body.get("cwd"),
        title=body.get("title"),
        project_id=body.get("projectId"),
        model=body.get("model"),
        approval_policy=body.get("approvalPolicy"),
        network_access=body.get("networkAccess"),
        filesystem_sandbox=body.get("filesystemSandbox"),
        dynamic_tools=cast(Any, body.get("dynamicTools")),
    )
    # thread/start's own answer: no second call (a thread/read of a new thread costs the
    # runtime tens of milliseconds once it has run turns).
    return wire.with_thread(started.record, started.thread)


@get(
    "/api/sessions/{session_id:str}",
    tags=["sessions"],
    summary="Read a session transcript",
    responses=error_responses(404, 410, 503),
)
async def get_session(manager: ManagerDep, session_id: FromPath[str]) -> wire.SessionDetail:
    """The session, the runtime's thread with its turns and the whole transcript (also for
    a session with no message yet: `materialized` false and an empty transcript)."""
    detail = await manager.sessions.detail(session_id)
    return wire.detail(detail.record, detail.thread, rows(detail.transcript))


@delete(
    "/api/sessions/{session_id:str}",
    tags=["sessions"],
    summary="Permanently delete a session",
    status_code=200,
    responses=error_responses(403, 404, 410),
)
async def delete_session(manager: ManagerDep, session_id: FromPath[str]) -> wire.DeleteResult:
    """Interrupts, removes the thread's files from CODEX_HOME and leaves a tombstone: the id
    answers 410 from then on, also after a restart."""
    return wire.deleted(await manager.sessions.delete(session_id))


@post(
    "/api/sessions/{session_id:str}/rename",
    tags=["sessions"],
    summary="Rename a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def rename_session(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.RenameBody]
) -> wire.SessionResult:
    return wire.session_result(await manager.sessions.rename(session_id, data["title"]))


@post(
    "/api/sessions/{session_id:str}/archive",
    tags=["sessions"],
    summary="Archive a session",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(403, 404, 409, 410),
)
async def archive_session(manager: ManagerDep, session_id: FromPath[str]) -> wire.ArchiveResult:
    """409 `not_materialized` before the first message (codex has no rollout to archive)."""
    try:
        record = await manager.sessions.archive(session_id)
    except Conflict as exc:
        if exc.code != "not_materialized":
            raise
        raise reshaped(exc, "not_materialized", sessionId=session_id) from exc
    return wire.archived(session_id, record)


@post(
    "/api/sessions/{session_id:str}/unarchive",
    tags=["sessions"],
    summary="Unarchive a session",
    status_code=200,
    responses=error_responses(403, 404, 410),
)
async def unarchive_session(
    manager: ManagerDep, session_id: FromPath[str]
) -> wire.SessionWithThread:
    record = await manager.sessions.unarchive(session_id)
    return wire.with_thread(record, await manager.sessions.thread(record.session_id))


@post(
    "/api/sessions/{session_id:str}/resume",
    tags=["sessions"],
    summary="Resume a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410),
)
async def resume_session(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.ResumeBody | None] = None,
) -> wire.SessionWithThread:
    """Loads the thread into the runtime with the stored approval policy and sandbox."""
    await check_dynamic_tools(manager, session_id, (data or {}).get("dynamicTools"))
    resumed = await manager.sessions.resume(session_id)
    return wire.with_thread(await manager.sessions.get(session_id), resumed)


@post(
    "/api/sessions/{session_id:str}/project",
    tags=["sessions"],
    summary="Assign or unassign a session project",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def set_session_project(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.ProjectBody]
) -> wire.ProjectAssignment:
    """404 `project_not_found` for an unknown project; `projectId: null` unassigns."""
    previous = await manager.sessions.get(session_id)
    project_id = data["projectId"]
    try:
        await manager.projects.assign_session(session_id, project_id)
    except NotFound as exc:
        if exc.code != "project_not_found":
            raise
        raise reshaped(
            exc, "project_not_found", sessionId=session_id, projectId=project_id
        ) from exc
    return wire.project_assignment(session_id, project_id, previous.project_id)


ROUTES: list[Any] = [
    list_sessions,
    create_session,
    get_session,
    delete_session,
    rename_session,
    archive_session,
    unarchive_session,
    resume_session,
    set_session_project,
]

"""Session routes (the original's sections 1.6 to 1.8) plus our paginated transcript.

Bodies keep the original's shapes; lists carry both the original's `data` and a named key.
Errors come from the Manager (errors.py maps them); where the original answered a specific
body (`not_materialized`, `no_active_turn`, `project_not_found`) the route reshapes it.
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, TypedDict, cast

from litestar import Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from codex_manager_core import SessionRecord
from codex_manager_core.errors import Conflict, InvalidInput, ManagerError, NotFound
from codex_manager_core.services.transcript import entry_row
from codex_manager_core.views import session_view, stand_in_thread
from codex_manager_http.app import ManagerDep
from codex_manager_http.errors import manager_error_response

ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
NetworkAccess = Literal["restricted", "enabled"]
FilesystemSandbox = Literal["read-only", "workspace-write", "danger-full-access"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]

# ---------------------------------------------------------------------- shapes (OpenAPI)


class ErrorBody(TypedDict):
    """Every error: `status` is "error", "not_found", "deleted", "locked" or a route's own
    word (e.g. "reconciled"); `code` is stable; `message` says what to do."""

    status: str
    code: str
    message: str
    issues: NotRequired[list[dict[str, Any]]]
    details: NotRequired[Any]


class DeletedBody(TypedDict):
    """410: the session was hard-deleted (durable: also after a restart)."""

    status: Literal["deleted"]
    code: str
    sessionId: str
    title: str
    message: str
    deletedAt: str


_DESCRIPTIONS = {
    400: "Invalid request (body, query or values)",
    403: "The session is system-owned (code system_session)",
    404: "Not found",
    409: "Conflict with the current state",
    410: "The session was deleted",
    423: "The default controls are locked",
    500: "The runtime failed the call",
    501: "The installed codex does not support this method",
    503: "The runtime is not running (retry shortly)",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {
        code: ResponseSpec(
            data_container=DeletedBody if code == 410 else ErrorBody,
            description=_DESCRIPTIONS[code],
        )
        for code in codes
    }


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


class TranscriptRow(TypedDict):
    """The original's TranscriptEntry, plus our `source` and `anchorItemId`."""

    messageId: str
    turnId: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    details: NotRequired[str]
    """JSON text (the item, the request, the audit record...)."""
    status: Literal["streaming", "complete", "canceled", "error"]
    startedAt: NotRequired[int]
    """Epoch milliseconds."""
    completedAt: NotRequired[int]
    """Epoch milliseconds."""
    source: Literal["runtime", "manager"]
    anchorItemId: NotRequired[str | None]


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


class TranscriptPageBody(TypedDict):
    status: str
    sessionId: str
    entries: list[TranscriptRow]
    nextCursor: str | None
    total: int


class DeleteResult(TypedDict):
    status: str
    sessionId: str
    title: str
    deletedFileCount: int


class ArchiveResult(TypedDict):
    status: str
    sessionId: str
    session: SessionView


class ProjectAssignment(TypedDict):
    status: str
    sessionId: str
    projectId: str | None
    previousProjectId: str | None


class ActionResult(TypedDict):
    status: str
    sessionId: str
    result: Any
    """What the runtime answered."""


class RollbackResult(ActionResult):
    numTurns: int


class SteerResult(ActionResult):
    turnId: str


class Accepted(TypedDict):
    status: Literal["accepted"]
    sessionId: str
    turnId: str


class Interrupted(TypedDict):
    status: str
    sessionId: str
    turnId: str


class EntryResult(TypedDict):
    status: str
    sessionId: str
    entry: TranscriptRow


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


class RollbackBody(TypedDict):
    numTurns: NotRequired[int]


class ReviewBody(TypedDict):
    delivery: NotRequired[Literal["inline", "detached"] | None]
    targetType: NotRequired[Literal["uncommittedChanges", "baseBranch", "commit", "custom"] | None]
    branch: NotRequired[str | None]
    sha: NotRequired[str | None]
    title: NotRequired[str | None]
    instructions: NotRequired[str | None]


class InputItem(TypedDict):
    """{type: text, text} | {type: image, url} | {type: localImage, path}."""

    type: Literal["text", "image", "localImage"]
    text: NotRequired[str]
    url: NotRequired[str]
    path: NotRequired[str]


class SteerBody(TypedDict):
    input: str | list[InputItem]


class MessageBody(TypedDict):
    text: NotRequired[str | None]
    """The message (the original's only input); `input` items follow it."""
    input: NotRequired[list[InputItem] | None]
    model: NotRequired[str | None]
    effort: NotRequired[Effort | None]
    approvalPolicy: NotRequired[ApprovalPolicy | None]
    networkAccess: NotRequired[NetworkAccess | None]
    filesystemSandbox: NotRequired[FilesystemSandbox | None]
    collaborationMode: NotRequired[dict[str, Any] | None]
    """E.g. {mode: "plan", settings: {...}}: plan mode offers the model request_user_input."""
    outputSchema: NotRequired[dict[str, Any] | None]
    dynamicTools: NotRequired[list[DynamicTool] | None]
    """Declared when the session is created: the same catalog again is accepted (and changes
    nothing), another one is refused (400)."""


class InterruptBody(TypedDict):
    turnId: NotRequired[str | None]


class TranscriptEntryBody(TypedDict):
    messageId: str
    turnId: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    details: NotRequired[Any]
    status: NotRequired[Literal["streaming", "complete", "canceled", "error"]]
    startedAt: NotRequired[str | int | float | None]
    """Epoch milliseconds (the original's form), or ISO-8601."""
    completedAt: NotRequired[str | int | float | None]
    anchorItemId: NotRequired[str | None]


# ---------------------------------------------------------------------- helpers


def view(record: SessionRecord, thread: Mapping[str, Any] | None = None) -> SessionView:
    return cast(SessionView, session_view(record, thread))


class Reshaped(Exception):
    """Raised by a route to answer a Manager error with the original's own body."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.content)
        self.response = response


def _answer_reshaped(request: Request[Any, Any, Any], exc: Reshaped) -> Response[Any]:
    return exc.response


#: `exception_handlers=` of the routes that raise Reshaped.
RESHAPED: dict[Any, Any] = {Reshaped: _answer_reshaped}


def reshaped(
    exc: ManagerError, status: str | None = None, *, status_code: int | None = None, **extra: Any
) -> Reshaped:
    """The Manager error's response with the original's `status` word and extra fields
    (and, where the original answered another one, its HTTP status code)."""
    response = manager_error_response(exc)
    body = dict(cast(Mapping[str, Any], response.content))
    if status is not None:
        body["status"] = status
    body.update(extra)
    return Reshaped(
        Response(body, status_code=status_code or response.status_code, headers=response.headers)
    )


def _is_thread(thread: Any, session_id: str) -> bool:
    """A real codex Thread (not the stand-in `read_thread` gives for a thread it cannot read
    with turns)."""
    return (
        isinstance(thread, Mapping)
        and thread.get("id") == session_id
        and "modelProvider" in thread
        and "createdAt" in thread
    )


async def thread_of(manager: ManagerDep, record: SessionRecord) -> dict[str, Any]:
    """The runtime's thread (no turns), or a stand-in when the runtime cannot read it."""
    try:
        thread = await manager.sessions.read_thread(record.session_id, include_turns=False)
    except ManagerError:
        thread = None
    if _is_thread(thread, record.session_id):
        return dict(thread)
    return stand_in_thread(record)


async def _check_dynamic_tools(
    manager: ManagerDep, session_id: str, tools: list[DynamicTool] | None
) -> None:
    """The original re-declared `dynamicTools` on resume and send; ours are fixed when the
    session is created. The same catalog again (what the original's Python client sends
    with every message) is accepted and changes nothing; another one is refused."""
    if not tools:
        return
    declared = {spec.get("name") for spec in (await manager.sessions.get(session_id)).dynamic_tools}
    if {tool.get("name") for tool in tools} != declared:
        raise InvalidInput(
            "dynamicTools can only be declared when the session is created "
            "(POST /api/sessions); create a new session to change them",
            issues=[{"path": ["dynamicTools"], "message": "only on session create"}],
        )


# ---------------------------------------------------------------------- create / list / get


@get(
    "/api/sessions",
    tags=["sessions"],
    summary="List sessions",
    responses=error_responses(400),
)
async def list_sessions(
    manager: ManagerDep,
    archived: Annotated[
        bool, Parameter(description="Archived sessions instead of live ones")
    ] = False,
    cursor: Annotated[str | None, Parameter(description="nextCursor of the previous page")] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 100,
    include_system_owned: Annotated[
        bool, Parameter(query="includeSystemOwned", description="Include worker sessions")
    ] = False,
    project_id: Annotated[
        str | None,
        Parameter(query="projectId", description='Only this project\'s sessions ("" = unassigned)'),
    ] = None,
) -> SessionList:
    """Most recently updated first, from the manager's store (no runtime call)."""
    page = await manager.sessions.list(
        archived=archived,
        include_system_owned=include_system_owned,
        project_id=project_id,
        cursor=cursor,
        limit=limit,
    )
    sessions = [view(record) for record in page.items]
    return {
        "status": "ok",
        "sessions": sessions,
        "data": sessions,
        "nextCursor": page.next_cursor,
        "archived": archived,
    }


@post(
    "/api/sessions",
    tags=["sessions"],
    summary="Create a session",
    status_code=200,
    responses=error_responses(400, 404, 503),
)
async def create_session(
    manager: ManagerDep, data: CreateSessionBody | None = None
) -> SessionWithThread:
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
    thread = (
        dict(started.thread)
        if _is_thread(started.thread, started.record.session_id)
        else stand_in_thread(started.record)
    )
    return {"status": "ok", "session": view(started.record, thread), "thread": thread}


@get(
    "/api/sessions/{session_id:str}",
    tags=["sessions"],
    summary="Read a session transcript",
    responses=error_responses(404, 410, 503),
)
async def get_session(manager: ManagerDep, session_id: str) -> SessionDetail:
    """The session, the runtime's thread with its turns and the whole transcript (also for
    a session with no message yet: `materialized` false and an empty transcript)."""
    thread = await manager.sessions.read_thread(session_id, include_turns=True)
    transcript = await manager.transcript.get(session_id, limit=None, thread=thread)
    record = await manager.sessions.get(session_id)
    if not _is_thread(thread, session_id):  # no rollout yet: the thread without turns
        thread = await thread_of(manager, record)
    return {
        "status": "ok",
        "session": view(record, thread),
        "thread": dict(thread),
        "transcript": cast(list[TranscriptRow], list(transcript.entries)),
    }


@get(
    "/api/sessions/{session_id:str}/transcript",
    tags=["sessions"],
    summary="Read a page of a session transcript",
    responses=error_responses(400, 404, 410, 503),
)
async def get_transcript(
    manager: ManagerDep,
    session_id: str,
    cursor: Annotated[str | None, Parameter(description="nextCursor of the previous page")] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> TranscriptPageBody:
    """Oldest first; follow `nextCursor` until it is null."""
    page = await manager.transcript.get(session_id, cursor=cursor, limit=limit)
    return {
        "status": "ok",
        "sessionId": session_id,
        "entries": cast(list[TranscriptRow], list(page.entries)),
        "nextCursor": page.next_cursor,
        "total": page.total,
    }


@delete(
    "/api/sessions/{session_id:str}",
    tags=["sessions"],
    summary="Permanently delete a session",
    status_code=200,
    responses=error_responses(403, 404, 410),
)
async def delete_session(manager: ManagerDep, session_id: str) -> DeleteResult:
    """Interrupts, removes the thread's files from CODEX_HOME and leaves a tombstone: the id
    answers 410 from then on, also after a restart."""
    record = await manager.sessions.get(session_id)
    count = await manager.sessions.delete(session_id)
    return {
        "status": "ok",
        "sessionId": session_id,
        "title": record.title,
        "deletedFileCount": count,
    }


# ---------------------------------------------------------------------- lifecycle


@post(
    "/api/sessions/{session_id:str}/rename",
    tags=["sessions"],
    summary="Rename a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def rename_session(manager: ManagerDep, session_id: str, data: RenameBody) -> SessionResult:
    record = await manager.sessions.rename(session_id, data["title"])
    return {"status": "ok", "session": view(record)}


@post(
    "/api/sessions/{session_id:str}/archive",
    tags=["sessions"],
    summary="Archive a session",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(403, 404, 409, 410),
)
async def archive_session(manager: ManagerDep, session_id: str) -> ArchiveResult:
    """409 `not_materialized` before the first message (codex has no rollout to archive)."""
    try:
        record = await manager.sessions.archive(session_id)
    except Conflict as exc:
        if exc.code != "not_materialized":
            raise
        raise reshaped(exc, "not_materialized", sessionId=session_id) from exc
    return {"status": "ok", "sessionId": session_id, "session": view(record)}


@post(
    "/api/sessions/{session_id:str}/unarchive",
    tags=["sessions"],
    summary="Unarchive a session",
    status_code=200,
    responses=error_responses(403, 404, 410),
)
async def unarchive_session(manager: ManagerDep, session_id: str) -> SessionWithThread:
    record = await manager.sessions.unarchive(session_id)
    thread = await thread_of(manager, record)
    return {"status": "ok", "session": view(record, thread), "thread": thread}


@post(
    "/api/sessions/{session_id:str}/resume",
    tags=["sessions"],
    summary="Resume a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410),
)
async def resume_session(
    manager: ManagerDep, session_id: str, data: ResumeBody | None = None
) -> SessionWithThread:
    """Loads the thread into the runtime with the stored approval policy and sandbox."""
    await _check_dynamic_tools(manager, session_id, (data or {}).get("dynamicTools"))
    resumed = await manager.sessions.resume(session_id)
    record = await manager.sessions.get(session_id)
    thread = dict(resumed) if _is_thread(resumed, session_id) else stand_in_thread(record)
    return {"status": "ok", "session": view(record, thread), "thread": thread}


@post(
    "/api/sessions/{session_id:str}/project",
    tags=["sessions"],
    summary="Assign or unassign a session project",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def set_session_project(
    manager: ManagerDep, session_id: str, data: ProjectBody
) -> ProjectAssignment:
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
    return {
        "status": "ok",
        "sessionId": session_id,
        "projectId": project_id,
        "previousProjectId": previous.project_id,
    }


@post(
    "/api/sessions/{session_id:str}/transcript/upsert",
    tags=["sessions"],
    summary="Upsert one supplemental transcript entry",
    status_code=200,
    responses=error_responses(400, 404, 410),
)
async def upsert_transcript_entry(
    manager: ManagerDep, session_id: str, data: TranscriptEntryBody
) -> EntryResult:
    """Insert or replace (by messageId) a row of the transcript; announced as
    `transcript_updated`. Allowed on worker sessions (extensions write there)."""
    entry = await manager.transcript.upsert(session_id, data)
    return {
        "status": "ok",
        "sessionId": session_id,
        "entry": cast(TranscriptRow, entry_row(entry)),
    }


# ---------------------------------------------------------------------- thread actions


@post(
    "/api/sessions/{session_id:str}/fork",
    tags=["sessions"],
    summary="Fork a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 410, 501),
)
async def fork_session(
    manager: ManagerDep, session_id: str, data: ForkBody | None = None
) -> ForkResult:
    """A new session with the thread's history, controls and project."""
    record = await manager.sessions.fork(session_id, title=(data or {}).get("title"))
    thread = await thread_of(manager, record)
    return {
        "status": "ok",
        "sourceSessionId": session_id,
        "session": view(record, thread),
        "thread": thread,
    }


@post(
    "/api/sessions/{session_id:str}/compact",
    tags=["sessions"],
    summary="Start context compaction",
    status_code=200,
    responses=error_responses(403, 404, 410, 501),
)
async def compact_session(manager: ManagerDep, session_id: str) -> ActionResult:
    result = await manager.sessions.compact(session_id)
    return {"status": "ok", "sessionId": session_id, "result": result}


@post(
    "/api/sessions/{session_id:str}/rollback",
    tags=["sessions"],
    summary="Rollback turns in a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410, 501),
)
async def rollback_session(
    manager: ManagerDep, session_id: str, data: RollbackBody | None = None
) -> RollbackResult:
    """Drops the last `numTurns` (default 1) turns from the history; 409 while a turn runs."""
    num_turns = (data or {}).get("numTurns", 1)
    result = await manager.sessions.rollback(session_id, num_turns)
    return {"status": "ok", "sessionId": session_id, "numTurns": num_turns, "result": result}


@post(
    "/api/sessions/{session_id:str}/background-terminals/clean",
    tags=["sessions"],
    summary="Clean background terminals",
    status_code=200,
    responses=error_responses(403, 404, 410, 501),
)
async def clean_background_terminals(manager: ManagerDep, session_id: str) -> ActionResult:
    result = await manager.sessions.clean_background_terminals(session_id)
    return {"status": "ok", "sessionId": session_id, "result": result}


@post(
    "/api/sessions/{session_id:str}/review",
    tags=["sessions"],
    summary="Start review mode",
    status_code=200,
    responses=error_responses(400, 403, 404, 410, 501),
)
async def review_session(
    manager: ManagerDep, session_id: str, data: ReviewBody | None = None
) -> ActionResult:
    """Reviews uncommitted changes (default), a base branch, a commit or custom instructions."""
    body = data or {}
    review: dict[str, Any] = {
        "delivery": body.get("delivery"),
        "branch": body.get("branch"),
        "sha": body.get("sha"),
        "title": body.get("title"),
        "instructions": body.get("instructions"),
    }
    if body.get("targetType"):
        review["target_type"] = body["targetType"]
    result = await manager.sessions.review(session_id, **review)
    return {"status": "ok", "sessionId": session_id, "result": result}


@post(
    "/api/sessions/{session_id:str}/turns/{turn_id:str}/steer",
    tags=["sessions"],
    summary="Steer an active turn",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410, 501),
)
async def steer_turn(
    manager: ManagerDep, session_id: str, turn_id: str, data: SteerBody
) -> SteerResult:
    """Adds input to the running turn `turnId` (409 when it is not the running one)."""
    result = await manager.turns.steer(session_id, turn_id, cast(Any, data["input"]))
    return {"status": "ok", "sessionId": session_id, "turnId": turn_id, "result": result}


# ---------------------------------------------------------------------- messages / turns


@post(
    "/api/sessions/{session_id:str}/messages",
    tags=["sessions"],
    summary="Start a turn in a session",
    status_code=HTTP_202_ACCEPTED,
    responses=error_responses(400, 403, 404, 409, 410, 503),
)
async def send_message(manager: ManagerDep, session_id: str, data: MessageBody) -> Accepted:
    """Starts a turn and answers at once; follow it on /api/stream (or /api/events). The
    overrides apply to this turn; the session's controls stay as they are."""
    await _check_dynamic_tools(manager, session_id, data.get("dynamicTools"))
    text = data.get("text")
    items: list[Any] = [{"type": "text", "text": text}] if text is not None else []
    items.extend(data.get("input") or [])
    if not items:
        raise InvalidInput(
            "give the message as text (or input items)",
            issues=[{"path": ["text"], "message": "required"}],
        )
    handle = await manager.turns.send(
        session_id,
        items,
        model=data.get("model"),
        effort=data.get("effort"),
        approval_policy=data.get("approvalPolicy"),
        network_access=data.get("networkAccess"),
        filesystem_sandbox=data.get("filesystemSandbox"),
        collaboration_mode=data.get("collaborationMode"),
        output_schema=data.get("outputSchema"),
    )
    return {"status": "accepted", "sessionId": session_id, "turnId": handle.turn_id}


@post(
    "/api/sessions/{session_id:str}/interrupt",
    tags=["sessions"],
    summary="Interrupt active turn",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(403, 404, 409, 410),
)
async def interrupt_turn(
    manager: ManagerDep, session_id: str, data: InterruptBody | None = None
) -> Interrupted:
    """Interrupts the given turn, or the running one; 409 `no_active_turn` if none."""
    try:
        turn_id = await manager.turns.interrupt(session_id, (data or {}).get("turnId"))
    except Conflict as exc:
        if exc.code != "no_active_turn":
            raise
        raise reshaped(exc, "no_active_turn", sessionId=session_id) from exc
    return {"status": "ok", "sessionId": session_id, "turnId": turn_id}


ROUTES = [
    list_sessions,
    create_session,
    get_session,
    get_transcript,
    delete_session,
    rename_session,
    archive_session,
    unarchive_session,
    resume_session,
    set_session_project,
    upsert_transcript_entry,
    fork_session,
    compact_session,
    rollback_session,
    clean_background_terminals,
    review_session,
    steer_turn,
    send_message,
    interrupt_turn,
]

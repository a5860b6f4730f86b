"""Thread actions on a session (the original's section 1.7): fork, compact, rollback, clean
background terminals, review. Each is one runtime method; the answer quotes the runtime."""

from typing import Any

from litestar import post
from litestar.params import FromPath, JSONBody

from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import error_responses
from codex_manager_http.wire import sessions as sessions_wire
from codex_manager_http.wire import turns as wire


@post(
    "/api/sessions/{session_id:str}/fork",
    tags=["sessions"],
    summary="Fork a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 410, 501),
)
async def fork_session(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[sessions_wire.ForkBody | None] = None,
) -> sessions_wire.ForkResult:
    """A new session with the thread's history, controls and project."""
    record = await manager.sessions.fork(session_id, title=(data or {}).get("title"))
    return sessions_wire.forked(
        session_id, record, await manager.sessions.thread(record.session_id)
    )


@post(
    "/api/sessions/{session_id:str}/compact",
    tags=["sessions"],
    summary="Start context compaction",
    status_code=200,
    responses=error_responses(403, 404, 410, 501),
)
async def compact_session(manager: ManagerDep, session_id: FromPath[str]) -> wire.ActionResult:
    return wire.action_result(session_id, await manager.sessions.compact(session_id))


@post(
    "/api/sessions/{session_id:str}/rollback",
    tags=["sessions"],
    summary="Rollback turns in a session",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410, 501),
)
async def rollback_session(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.RollbackBody | None] = None,
) -> wire.RollbackResult:
    """Drops the last `numTurns` (default 1) turns from the history; 409 while a turn runs."""
    num_turns = (data or {}).get("numTurns", 1)
    result = await manager.sessions.rollback(session_id, num_turns)
    return wire.rolled_back(session_id, num_turns, result)


@post(
    "/api/sessions/{session_id:str}/background-terminals/clean",
    tags=["sessions"],
    summary="Clean background terminals",
    status_code=200,
    responses=error_responses(403, 404, 410, 501),
)
async def clean_background_terminals(
    manager: ManagerDep, session_id: FromPath[str]
) -> wire.ActionResult:
    return wire.action_result(
        session_id, await manager.sessions.clean_background_terminals(session_id)
    )


@post(
    "/api/sessions/{session_id:str}/review",
    tags=["sessions"],
    summary="Start review mode",
    status_code=200,
    responses=error_responses(400, 403, 404, 410, 501),
)
async def review_session(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.ReviewBody | None] = None,
) -> wire.ActionResult:
    """Reviews uncommitted changes (default), a base branch, a commit or custom instructions."""
    options = wire.review_options(data or {})
    return wire.action_result(session_id, await manager.sessions.review(session_id, **options))


ROUTES: list[Any] = [
    fork_session,
    compact_session,
    rollback_session,
    clean_background_terminals,
    review_session,
]

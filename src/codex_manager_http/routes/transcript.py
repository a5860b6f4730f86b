"""Transcript routes: our paginated transcript, and the original's supplemental-entry upsert
(extensions and automations add rows of their own)."""

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import error_responses
from codex_manager_http.wire import transcript as wire


@get(
    "/api/sessions/{session_id:str}/transcript",
    tags=["sessions"],
    summary="Read a page of a session transcript",
    responses=error_responses(400, 404, 410, 503),
)
async def get_transcript(
    manager: ManagerDep,
    session_id: FromPath[str],
    cursor: Annotated[
        str | None, QueryParameter(description="nextCursor of the previous page")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> wire.TranscriptPageBody:
    """Oldest first; follow `nextCursor` until it is null."""
    page = await manager.transcript.get(session_id, cursor=cursor, limit=limit)
    return wire.transcript_page(session_id, page)


@post(
    "/api/sessions/{session_id:str}/transcript/upsert",
    tags=["sessions"],
    summary="Upsert one supplemental transcript entry",
    status_code=200,
    responses=error_responses(400, 404, 410),
)
async def upsert_transcript_entry(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.TranscriptEntryBody]
) -> wire.EntryResult:
    """Insert or replace (by messageId) a row of the transcript; announced as
    `transcript_updated`. Allowed on worker sessions (extensions write there)."""
    entry = await manager.transcript.upsert(session_id, data)
    return wire.entry_result(session_id, entry)


ROUTES: list[Any] = [get_transcript, upsert_transcript_entry]

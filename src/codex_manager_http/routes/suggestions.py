"""Suggested requests (the original's section 1.10): ask and wait, enqueue only, and the
worker's write-back. The work is `manager.suggestions` (a job on the queue)."""

from typing import Any

from litestar import Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from codex_manager_core.errors import Conflict, InvalidInput
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, error_responses, reshaped
from codex_manager_http.wire import suggestions as wire

_QUEUED = ResponseSpec(
    data_container=wire.Queued, description="Queued: the suggestion arrives on the stream"
)


def _no_context(exc: Conflict, session_id: str) -> Exception:
    """409 as the original: `{status: "no_context", sessionId, message}`."""
    if exc.code == "no_context":
        return reshaped(exc, "no_context", sessionId=session_id)
    return exc


@post(
    "/api/sessions/{session_id:str}/suggested-request",
    tags=["suggestions"],
    summary="Generate a suggested user request for a session",
    status_code=HTTP_200_OK,
    responses={202: _QUEUED, **error_responses(400, 403, 404, 409, 410, 429)},
    exception_handlers=RESHAPED,
)
async def suggest_request(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.SuggestBody | None] = None,
) -> Response[wire.Suggested]:
    """Waits (12 s by default) for the worker's suggestion: 200 `ok`, or 200 `fallback` (a
    suggestion built from the draft or the last user message) when the worker is late, or
    202 `queued` when the job had not started by then."""
    body = data or {}
    try:
        outcome = await manager.suggestions.request(
            session_id, model=body.get("model"), effort=body.get("effort"), draft=body.get("draft")
        )
    except Conflict as exc:
        raise _no_context(exc, session_id) from None
    status = HTTP_202_ACCEPTED if outcome.status == "queued" else HTTP_200_OK
    return Response(wire.suggested(outcome), status_code=status)


@post(
    "/api/sessions/{session_id:str}/suggested-request/jobs",
    tags=["suggestions"],
    summary="Enqueue suggested-request generation job",
    status_code=HTTP_202_ACCEPTED,
    responses=error_responses(400, 403, 404, 409, 410, 429),
    exception_handlers=RESHAPED,
)
async def enqueue_suggest_request(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.SuggestBody | None] = None,
) -> wire.Queued:
    """Enqueue only: the result arrives as `suggested_request_updated`. 409 `job_conflict`
    when no job type can write it; 429 `queue_full` at the queue's capacity."""
    body = data or {}
    try:
        job = await manager.suggestions.enqueue(
            session_id, model=body.get("model"), effort=body.get("effort"), draft=body.get("draft")
        )
    except Conflict as exc:
        raise _no_context(exc, session_id) from None
    return wire.queued(job)


@post(
    "/api/sessions/{session_id:str}/suggested-request/upsert",
    tags=["suggestions"],
    summary="Upsert suggested-request runtime state",
    status_code=HTTP_200_OK,
    responses=error_responses(400, 403, 404, 410),
    exception_handlers=RESHAPED,
)
async def upsert_suggest_request(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.UpsertBody]
) -> wire.Upserted:
    """The worker writes its result back (`suggested_request_updated` follows). A
    terminal state (complete, error, canceled) never regresses to streaming."""
    try:
        state = await manager.suggestions.upsert(
            session_id,
            data["requestKey"],
            data["status"],
            data.get("suggestion"),
            data.get("error"),
        )
    except InvalidInput as exc:
        if exc.code == "missing_suggestion":
            raise reshaped(exc, "invalid_request") from None
        raise
    return wire.upserted(state)


ROUTES: list[Any] = [suggest_request, enqueue_suggest_request, upsert_suggest_request]

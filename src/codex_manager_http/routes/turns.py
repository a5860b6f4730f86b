"""Turn routes (the original's section 1.8): send a message (starts a turn), steer the
running turn, interrupt it."""

from typing import Any, cast

from litestar import post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from codex_manager_core.errors import Conflict
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, error_responses, reshaped
from codex_manager_http.routes.session_support import check_dynamic_tools
from codex_manager_http.wire import turns as wire


@post(
    "/api/sessions/{session_id:str}/turns/{turn_id:str}/steer",
    tags=["sessions"],
    summary="Steer an active turn",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410, 501),
)
async def steer_turn(
    manager: ManagerDep,
    session_id: FromPath[str],
    turn_id: FromPath[str],
    data: JSONBody[wire.SteerBody],
) -> wire.SteerResult:
    """Adds input to the running turn `turnId` (409 when it is not the running one)."""
    result = await manager.turns.steer(session_id, turn_id, cast(Any, data["input"]))
    return wire.steered(session_id, turn_id, result)


@post(
    "/api/sessions/{session_id:str}/messages",
    tags=["sessions"],
    summary="Start a turn in a session",
    status_code=HTTP_202_ACCEPTED,
    responses=error_responses(400, 403, 404, 409, 410, 503),
)
async def send_message(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.MessageBody]
) -> wire.Accepted:
    """Starts a turn and answers at once; follow it on /api/stream (or /api/events). The
    overrides apply to this turn; the session's controls stay as they are."""
    await check_dynamic_tools(manager, session_id, data.get("dynamicTools"))
    items = wire.message_items(data)
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
    return wire.accepted(session_id, handle.turn_id, handle.since_seq)


@post(
    "/api/sessions/{session_id:str}/interrupt",
    tags=["sessions"],
    summary="Interrupt active turn",
    exception_handlers=RESHAPED,
    status_code=200,
    responses=error_responses(403, 404, 409, 410),
)
async def interrupt_turn(
    manager: ManagerDep,
    session_id: FromPath[str],
    data: JSONBody[wire.InterruptBody | None] = None,
) -> wire.Interrupted:
    """Interrupts the given turn, or the running one; 409 `no_active_turn` if none."""
    try:
        turn_id = await manager.turns.interrupt(session_id, (data or {}).get("turnId"))
    except Conflict as exc:
        if exc.code != "no_active_turn":
            raise
        raise reshaped(exc, "no_active_turn", sessionId=session_id) from exc
    return wire.interrupted(session_id, turn_id)


ROUTES: list[Any] = [steer_turn, send_message, interrupt_turn]

"""How a turn's events tell its outcome: the fold shared by the embedded wait and the remote
client's wait, so the two cannot disagree.

The embedded `turns.wait` (services/turn_waits.py) reads the events from the ledger's bus; the
remote client (`codex_manager_client.waits`) reads the same events from `/api/stream`. Both
feed each event to `turn_step`, which answers: not about this turn (None), a retry or
give-up notice of the runtime (`TurnErrorNotice`), or the turn's end (`TurnResult`). Then
`checked` turns a failed end into `TurnFailed`, and `turn_timeout` names the last retry in
the timeout. Pure functions of the event's type and payload: no bus, store or socket.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import attrs

from codex_manager_core.errors import TurnFailed, TurnTimeout
from codex_manager_core.models import TurnStatus

ERROR_TYPE: Final = "app_server.error"
COMPLETED_TYPE: Final = "app_server.turn.completed"
RECONCILED_TYPE: Final = "turn_reconciled"
#: The event types that can end a turn or report on its retries.
WAIT_TYPES: Final = (COMPLETED_TYPE, RECONCILED_TYPE, ERROR_TYPE)


@attrs.frozen
class TurnResult:
    session_id: str
    turn_id: str
    status: TurnStatus
    final_text: str | None
    """The last assistant message of the turn (None if it produced none)."""
    error: str | None = None


@attrs.frozen
class TurnErrorNotice:
    """An `error` notification of the runtime about a turn (`app_server.error`)."""

    message: str
    """The runtime's message, e.g. "Reconnecting... 2/5" or "unexpected status 401 ..."."""
    details: str | None
    """The runtime's `additionalDetails` (for a retry: what went wrong)."""
    info: Any
    """The runtime's `codexErrorInfo` (e.g. {"httpConnectionFailed": {"httpStatusCode": 401}})."""
    will_retry: bool
    seq: int
    """The ledger position of the notification."""

    def describe(self) -> str:
        if self.details and self.details != self.message:
            return f"{self.message} ({self.details})"
        return self.message

    @property
    def http_status(self) -> int | None:
        """The HTTP status of the model server's answer, when the runtime reports one."""
        if isinstance(self.info, Mapping):
            for value in self.info.values():
                if isinstance(value, Mapping) and isinstance(value.get("httpStatusCode"), int):
                    return int(value["httpStatusCode"])
        return None


def final_text_of(turn: Mapping[str, Any]) -> str | None:
    """The text of the last agent message among a turn's items."""
    items = turn.get("items")
    text = None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and item.get("type") == "agentMessage":
                value = item.get("text")
                if isinstance(value, str):
                    text = value
    return text


def turn_error_of(turn: Mapping[str, Any]) -> str | None:
    error = turn.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        return str(message) if message is not None else str(dict(error))
    return None if error is None else str(error)


def turn_step(
    event_type: str, payload: Any, seq: int, session_id: str, turn_id: str
) -> TurnResult | TurnErrorNotice | None:
    """What one event says about turn `turn_id`: its end, a runtime error notice about it,
    or nothing (None)."""
    if event_type == ERROR_TYPE:
        return _notice_of(payload, seq, turn_id)
    if event_type in (COMPLETED_TYPE, RECONCILED_TYPE):
        return _end_of(event_type, payload, session_id, turn_id)
    return None


def checked(result: TurnResult, last_retry: TurnErrorNotice | None) -> TurnResult:
    """`result`, unless the turn failed: then `TurnFailed` with the best reason known."""
    if result.status is not TurnStatus.FAILED:
        return result
    message = result.error or (
        last_retry.describe() if last_retry is not None else "the runtime gave no reason"
    )
    raise TurnFailed(result.session_id, result.turn_id, message, notice=None, result=result)


def gave_up(session_id: str, turn_id: str, notice: TurnErrorNotice) -> TurnFailed:
    """The runtime stopped retrying (an error without `willRetry`): the turn failed."""
    return TurnFailed(session_id, turn_id, notice.describe(), notice=notice)


def retry_noted(
    session_id: str, turn_id: str, notice: TurnErrorNotice, logger: logging.Logger
) -> TurnErrorNotice:
    """An error notice met while waiting for the turn: `TurnFailed` (raised) when the
    runtime gave up, else the notice, logged to `logger` as a retry of the model (the
    caller keeps it as its last retry)."""
    if not notice.will_retry:
        raise gave_up(session_id, turn_id, notice)
    logger.warning(
        "turn %s of session %s: the runtime is retrying the model: %s",
        turn_id,
        session_id,
        notice.describe(),
    )
    return notice


def turn_timeout(
    session_id: str, turn_id: str, timeout: float | None, last_retry: TurnErrorNotice | None
) -> TurnTimeout:
    retrying = f"; the runtime was retrying: {last_retry.describe()}" if last_retry else ""
    return TurnTimeout(
        f"turn {turn_id} of session {session_id} did not finish within {timeout or 0:g} s"
        f"{retrying}; it may still be running (interrupt it, or wait again)",
        last_retry=last_retry,
    )


def _notice_of(payload: Any, seq: int, turn_id: str) -> TurnErrorNotice | None:
    """The error notice of an `app_server.error` event if it is about this turn."""
    payload = payload if isinstance(payload, Mapping) else {}
    params = payload.get("params")
    if not isinstance(params, Mapping) or params.get("turnId") not in (turn_id, None):
        return None
    error = params.get("error")
    error = error if isinstance(error, Mapping) else {}
    message = error.get("message")
    details = error.get("additionalDetails")
    return TurnErrorNotice(
        message=str(message) if message is not None else "the runtime reported an error",
        details=str(details) if details is not None else None,
        info=error.get("codexErrorInfo"),
        will_retry=params.get("willRetry") is True,
        seq=seq,
    )


def _end_of(event_type: str, payload: Any, session_id: str, turn_id: str) -> TurnResult | None:
    payload = payload if isinstance(payload, Mapping) else {}
    if event_type == RECONCILED_TYPE:
        if payload.get("turnId") != turn_id:
            return None
        raw = str(payload.get("status"))
        status = TurnStatus(raw) if raw in TurnStatus._value2member_map_ else TurnStatus.FAILED
        return TurnResult(session_id, turn_id, status, None, None)
    params = payload.get("params")
    turn = params.get("turn") if isinstance(params, Mapping) else None
    if not isinstance(turn, Mapping) or turn.get("id") != turn_id:
        return None
    raw = str(turn.get("status"))
    status = TurnStatus(raw) if raw in TurnStatus._value2member_map_ else TurnStatus.FAILED
    return TurnResult(session_id, turn_id, status, final_text_of(turn), turn_error_of(turn))

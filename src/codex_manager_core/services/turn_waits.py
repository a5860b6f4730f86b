"""Waiting for a turn's end, and telling the caller why it did not end well.

The runtime reports trouble with the model as `error` notifications of the turn: with
`willRetry: true` while it retries ("Reconnecting... 2/5"), then one without it when it gives
up, just before the turn completes as `failed`. Without a login or a network a turn can retry
for minutes (with no network codex retries forever: "Reconnecting... waiting for network"),
which a bare wait showed as silence ending in a timeout. So a wait

- reports each retry: a log warning (visible even in a script that configured no logging)
  and the optional `on_retry` callback;
- ends at once with `TurnFailed`, carrying the runtime's message, when the runtime gives up
  or the turn ends `failed`;
- names the runtime's last retry message when it times out (`TurnTimeout`).

It is driven by the ledger's events, never by polling (`wait_for_turn_end`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from codex_manager_core.errors import TurnFailed, TurnTimeout
from codex_manager_core.events.bus import EventBus, EventFilter
from codex_manager_core.models import Event, Lagged, TurnRecord, TurnStatus
from codex_manager_core.ports import Clock, Store
from codex_manager_core.services.notifications import final_text_of, turn_error_of

logger = logging.getLogger("codex_manager_core.turns")

ERROR_TYPE: Final = "app_server.error"
_WAIT_TYPES: Final = ("app_server.turn.completed", "turn_reconciled", ERROR_TYPE)


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


#: What `on_retry` may be: called with each retry notice (an async function is awaited).
RetryCallback = Callable[[TurnErrorNotice], Any]


async def wait_for_turn_end(
    bus: EventBus,
    store: Store,
    clock: Clock,
    session_id: str,
    turn_id: str,
    *,
    timeout: float | None = None,
    since: int | None = None,
    on_retry: RetryCallback | None = None,
) -> TurnResult:
    """The turn's result once it ends (at once if it has); `TurnFailed` if it failed,
    `TurnTimeout` after `timeout` seconds. `since`: the ledger position before the turn
    started, so that retries announced before this call are reported too."""
    event_filter = EventFilter.of([session_id], _WAIT_TYPES)
    subscription = bus.subscribe(event_filter, since=since)
    last_retry: TurnErrorNotice | None = None
    try:
        with clock.move_on_after(timeout):
            stored = await store.get_turn(turn_id)
            if stored is not None and stored.status.terminal:
                return _checked(_result(stored), None)
            while True:
                item = await subscription.next()
                if isinstance(item, Lagged):
                    # Fell behind (a flood of other events): resume from the cursor.
                    subscription.close()
                    subscription = bus.subscribe(event_filter, since=item.seq)
                    continue
                if item.type == ERROR_TYPE:
                    notice = _notice_of(item, turn_id)
                    if notice is None:
                        continue
                    if not notice.will_retry:
                        raise TurnFailed(session_id, turn_id, notice.describe(), notice=notice)
                    last_retry = notice
                    logger.warning(
                        "turn %s of session %s: the runtime is retrying the model: %s",
                        turn_id,
                        session_id,
                        notice.describe(),
                    )
                    if on_retry is not None:
                        outcome = on_retry(notice)
                        if inspect.isawaitable(outcome):
                            await outcome
                    continue
                result = _from_event(item, session_id, turn_id)
                if result is not None:
                    stored = await store.get_turn(turn_id)
                    if stored is not None and stored.status.terminal:
                        result = _result(stored)
                    return _checked(result, last_retry)
    finally:
        subscription.close()
    retrying = f"; the runtime was retrying: {last_retry.describe()}" if last_retry else ""
    raise TurnTimeout(
        f"turn {turn_id} of session {session_id} did not finish within {timeout:g} s"
        f"{retrying}; it may still be running (interrupt it, or wait again)",
        last_retry=last_retry,
    )


def _checked(result: TurnResult, last_retry: TurnErrorNotice | None) -> TurnResult:
    if result.status is not TurnStatus.FAILED:
        return result
    message = result.error or (
        last_retry.describe() if last_retry is not None else "the runtime gave no reason"
    )
    raise TurnFailed(result.session_id, result.turn_id, message, notice=None, result=result)


def _notice_of(event: Event, turn_id: str) -> TurnErrorNotice | None:
    """The error notice of `event` if it is about this turn."""
    payload = event.payload if isinstance(event.payload, Mapping) else {}
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
        seq=event.seq,
    )


def _result(turn: TurnRecord) -> TurnResult:
    return TurnResult(turn.thread_id, turn.turn_id, turn.status, turn.final_text, turn.error)


def _from_event(event: Event, session_id: str, turn_id: str) -> TurnResult | None:
    payload = event.payload if isinstance(event.payload, Mapping) else {}
    if event.type == "turn_reconciled":
        if payload.get("turnId") != turn_id:
            return None
        return TurnResult(session_id, turn_id, TurnStatus(payload["status"]), None, None)
    params = payload.get("params")
    turn = params.get("turn") if isinstance(params, Mapping) else None
    if not isinstance(turn, Mapping) or turn.get("id") != turn_id:
        return None
    raw = str(turn.get("status"))
    status = TurnStatus(raw) if raw in TurnStatus._value2member_map_ else TurnStatus.FAILED
    return TurnResult(session_id, turn_id, status, final_text_of(turn), turn_error_of(turn))

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
from collections.abc import Callable
from typing import Any

from codex_manager_core.events.bus import EventBus, EventFilter
from codex_manager_core.models import Lagged, TurnRecord
from codex_manager_core.ports import Clock, Store
from codex_manager_core.turn_outcome import (
    ERROR_TYPE,
    WAIT_TYPES,
    TurnErrorNotice,
    TurnResult,
    checked,
    retry_noted,
    turn_step,
    turn_timeout,
)

__all__ = ["ERROR_TYPE", "RetryCallback", "TurnErrorNotice", "TurnResult", "wait_for_turn_end"]

logger = logging.getLogger("codex_manager_core.turns")

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
    event_filter = EventFilter.of([session_id], WAIT_TYPES)
    subscription = bus.subscribe(event_filter, since=since)
    last_retry: TurnErrorNotice | None = None
    try:
        with clock.move_on_after(timeout):
            stored = await store.get_turn(turn_id)
            if stored is not None and stored.status.terminal:
                return checked(_result(stored), None)
            while True:
                item = await subscription.next()
                if isinstance(item, Lagged):
                    # Fell behind (a flood of other events): resume from the cursor.
                    subscription.close()
                    subscription = bus.subscribe(event_filter, since=item.seq)
                    continue
                step = turn_step(item.type, item.payload, item.seq, session_id, turn_id)
                if step is None:
                    continue
                if isinstance(step, TurnErrorNotice):
                    last_retry = retry_noted(session_id, turn_id, step, logger)
                    if on_retry is not None:
                        outcome = on_retry(step)
                        if inspect.isawaitable(outcome):
                            await outcome
                    continue
                # The stored record has what the event may lack (a reconciled turn's text).
                stored = await store.get_turn(turn_id)
                result = _result(stored) if stored is not None and stored.status.terminal else step
                return checked(result, last_retry)
    finally:
        subscription.close()
    raise turn_timeout(session_id, turn_id, timeout, last_retry)


def _result(turn: TurnRecord) -> TurnResult:
    return TurnResult(turn.thread_id, turn.turn_id, turn.status, turn.final_text, turn.error)

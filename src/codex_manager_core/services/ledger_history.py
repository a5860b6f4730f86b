"""A thread's turns rebuilt from our own ledger, for when the runtime cannot read them.

`thread/read` is served by codex from its files under CODEX_HOME. When codex fails it
(seen: "thread-store internal error: No space left on device" when the data directory's
disk is full) the session must still open: reading needs no write of ours. The ledger
holds every notification of the thread, so its turns come back from `turn/started`,
`item/completed` and `turn/completed` events (deltas are not needed: each completed item
carries its full content). The result is marked `readFrom: "ledger"` with the runtime's
error, and has what the runtime's thread would have had at the last stored event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from codex_manager_core.events.payloads import stand_in_thread
from codex_manager_core.models import Event, SessionRecord
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import EventQuery

_TURN_STARTED: Final = "app_server.turn.started"
_TURN_COMPLETED: Final = "app_server.turn.completed"
_ITEM_COMPLETED: Final = "app_server.item.completed"
_PAGE: Final = 1000


async def thread_from_ledger(
    store: Store, record: SessionRecord, runtime_error: str, *, include_turns: bool = True
) -> dict[str, Any]:
    """The session's thread as the runtime would show it, from the ledger."""
    thread = {**stand_in_thread(record), "readFrom": "ledger", "runtimeError": runtime_error}
    if include_turns:
        thread["turns"] = turns_from_events(await _thread_events(store, record.session_id))
    return thread


async def _thread_events(store: Store, thread_id: str) -> list[Event]:
    found: list[Event] = []
    since = 0
    while True:
        page = await store.read_events(
            EventQuery(
                since=since,
                limit=_PAGE,
                thread_ids=frozenset({thread_id}),
                type_prefixes=(_TURN_STARTED, _TURN_COMPLETED, _ITEM_COMPLETED),
            )
        )
        found.extend(page)
        if len(page) < _PAGE:
            return found
        since = page[-1].seq


def _params(event: Event) -> Mapping[str, Any]:
    payload = event.payload
    params = payload.get("params") if isinstance(payload, Mapping) else None
    return params if isinstance(params, Mapping) else {}


def turns_from_events(events: list[Event]) -> list[dict[str, Any]]:
    """Turns (oldest first) with their completed items, from a thread's events."""
    turns: dict[str, dict[str, Any]] = {}

    def turn(turn_id: str, event: Event) -> dict[str, Any]:
        found = turns.get(turn_id)
        if found is None:
            found = turns[turn_id] = {
                "id": turn_id,
                "status": "inProgress",
                "items": [],
                "startedAt": round(event.at.timestamp()),
            }
        return found

    for event in events:
        params = _params(event)
        if event.type == _ITEM_COMPLETED:
            item = params.get("item")
            turn_id = params.get("turnId")
            if isinstance(item, Mapping) and isinstance(turn_id, str):
                turn(turn_id, event)["items"].append(dict(item))
            continue
        raw = params.get("turn")
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            continue
        current = turn(str(raw["id"]), event)
        for key, value in raw.items():
            if key == "items":
                if value and not current["items"]:
                    current["items"] = [dict(item) for item in value if isinstance(item, Mapping)]
            elif value is not None:
                current[key] = value
        if event.type == _TURN_COMPLETED and "completedAt" not in current:
            current["completedAt"] = round(event.at.timestamp())
    return list(turns.values())

"""The event row, by hand: the ledger's hot path (every notification and delta is encoded
here, and every replay decodes here), so the common case is checked inline and the
descriptive validators only run when something is off. See `store.codec` for the records,
which a cattrs converter encodes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from codex_manager_core.models import Event, EventDraft
from codex_manager_core.store.codec import Row, check_str, dumps, enc_dt

EVENT_COLUMNS = ("seq", "type", "thread_id", "payload", "at", "item_id", "delta", "system")


def _check_draft_fields(draft: EventDraft) -> None:
    for name in ("type", "thread_id", "item_id"):
        value = getattr(draft, name)
        if name == "type" or value is not None:
            check_str(value, f"event.{name}")
    for name in ("delta", "system"):
        if not isinstance(getattr(draft, name), bool):
            raise TypeError(f"event.{name} must be a bool")


def encode_draft(draft: EventDraft) -> Row:
    """An event row without its seq (assigned by the store inside the transaction).

    The hot path of the ledger (every delta goes through here), so the common case is
    checked inline and the descriptive validators only run when something is off."""
    type_, thread_id, item_id, delta, system = (
        draft.type,
        draft.thread_id,
        draft.item_id,
        draft.delta,
        draft.system,
    )
    if not (
        type(type_) is str
        and (thread_id is None or type(thread_id) is str)
        and (item_id is None or type(item_id) is str)
        and type(delta) is bool
        and type(system) is bool
    ):
        _check_draft_fields(draft)
    payload = draft.payload
    if payload is not None:
        try:
            payload = dumps(payload)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"payload of event {type_!r} cannot be stored as JSON: {exc}") from exc
    return (
        type_,
        thread_id,
        payload,
        enc_dt(draft.at, "event.at"),
        item_id,
        int(delta),
        int(system),
    )


def stored_event(seq: int, draft: EventDraft, at: float) -> Event:
    """The event `apply()` returns for a draft it stored as `seq` (with `at` encoded).

    The payload is the draft's own object (already proven JSON-encodable), not a decoded
    copy: decoding every payload back would double the cost of a large batch. A later
    read returns the JSON round trip of it, equal for JSON-shaped payloads (dicts, lists,
    str, numbers, bools, None). `at` is normalized to UTC, as a read returns it."""
    stamp = draft.at if draft.at.tzinfo is UTC else datetime.fromtimestamp(at, UTC)
    return Event(
        seq=seq,
        type=draft.type,
        thread_id=draft.thread_id,
        payload=draft.payload,
        at=stamp,
        item_id=draft.item_id,
        delta=draft.delta,
        system=draft.system,
    )


def decode_event(row: Row) -> Event:
    seq, type_, thread_id, payload, at, item_id, delta, system = row
    return Event(
        seq=seq,
        type=type_,
        thread_id=thread_id,
        payload=None if payload is None else json.loads(payload),
        at=datetime.fromtimestamp(at, UTC),
        item_id=item_id,
        delta=bool(delta),
        system=bool(system),
    )

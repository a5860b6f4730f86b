"""Row codecs shared by the store adapters.

Both adapters keep records in the same encoded form: JSON values as compact JSON text,
datetimes as float epoch seconds (UTC), enums by value, booleans as 0/1. `SqliteStore`
writes these tuples to its tables; `MemoryStore` encodes and decodes every record it
stores, so what it hands back is exactly what `SqliteStore` would hand back (tz-aware UTC
datetimes, JSON round-tripped payloads, the same errors for values that cannot be stored).
That is what lets one contract suite hold both adapters to the same behaviour.

Errors raised here (`TypeError`, `ValueError`) are programming errors of the caller: a
naive datetime, a payload that is not JSON, a field name that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from codex_manager_core.models import (
    Controls,
    Event,
    EventDraft,
    InteractiveRequest,
    Project,
    RequestKind,
    RequestStatus,
    SessionRecord,
    TitleSource,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
    TurnStatus,
)

Row: TypeAlias = tuple[Any, ...]
Encoder: TypeAlias = Callable[[Any, str], Any]

# ---------------------------------------------------------------------- scalars


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        raise TypeError(f"a {type(value).__name__} is not JSON (use a list)")
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _make_dumps() -> Callable[[Any], str]:
    """Compact, strict (no NaN) JSON. `json.dumps` builds a new C encoder on every call,
    which is 2/3 of its cost for a small payload; the event hot path encodes each payload,
    so keep one C encoder (stateless: markers=None, no circularity bookkeeping that an
    exception could leave dirty; a cycle ends in RecursionError instead)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - interpreters without the C accelerator
        encoder = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
        )
        return encoder.encode
    c_encode = make(
        None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def dumps(value: Any) -> str:
        return "".join(c_encode(value, 0))

    return dumps


_dumps = _make_dumps()


def dump_json(value: Any, what: str = "value") -> str:
    try:
        return _dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} cannot be stored as JSON: {exc}") from exc


def dump_json_or_none(value: Any, what: str = "value") -> str | None:
    return None if value is None else dump_json(value, what)


load_json: Callable[[str], Any] = json.loads


def load_json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def enc_dt(value: Any, what: str = "datetime") -> float:
    if type(value) is datetime and value.tzinfo is UTC:  # the common case, fast
        return value.timestamp()
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
    return value.timestamp()


def enc_dt_or_none(value: Any, what: str = "datetime") -> float | None:
    return None if value is None else enc_dt(value, what)


def dec_dt(value: float) -> datetime:
    # Float seconds near the present keep sub-microsecond resolution (ulp ~0.24 us), and
    # fromtimestamp rounds to the nearest microsecond: a datetime survives exactly.
    return datetime.fromtimestamp(value, UTC)


def dec_dt_or_none(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _str_or_none(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _bool(value: Any, what: str) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {type(value).__name__}")
    return int(value)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _int_or_none(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _rpc_id(value: Any, what: str) -> int | str:
    if isinstance(value, str):
        return value
    return _int(value, what)


E = TypeVar("E", bound=enum.Enum)


def _enum(cls: type[E]) -> Encoder:
    def encode(value: Any, what: str) -> str:
        try:
            return str(cls(value).value)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a {cls.__name__}") from None

    return encode


def _json(value: Any, what: str) -> str:
    return dump_json(value, what)


def _json_or_none(value: Any, what: str) -> str | None:
    return dump_json_or_none(value, what)


def _dt(value: Any, what: str) -> float:
    return enc_dt(value, what)


def _dt_or_none(value: Any, what: str) -> float | None:
    return enc_dt_or_none(value, what)


# ---------------------------------------------------------------------- controls


def controls_to_json(controls: Any, what: str = "controls") -> str:
    if not isinstance(controls, Controls):
        raise TypeError(f"{what} must be Controls, not {type(controls).__name__}")
    return dump_json(
        {
            "model": _str_or_none(controls.model, f"{what}.model"),
            "approval_policy": _str(controls.approval_policy, f"{what}.approval_policy"),
            "network_access": _str(controls.network_access, f"{what}.network_access"),
            "filesystem_sandbox": _str(controls.filesystem_sandbox, f"{what}.filesystem_sandbox"),
            "settings": controls.settings,
        },
        what,
    )


def controls_from_json(text: str) -> Controls:
    data = json.loads(text)
    return Controls(
        model=data["model"],
        approval_policy=data["approval_policy"],
        network_access=data["network_access"],
        filesystem_sandbox=data["filesystem_sandbox"],
        settings=data["settings"],
    )


def _tools(value: Any, what: str) -> str:
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"{what} must be a sequence of JSON objects")
    return dump_json(list(value), what)


# ---------------------------------------------------------------------- tables
#
# Each table is described once: its columns in order (the attrs field names, so a patch's
# field name is its column name) and one encoder per column.

SESSION_ENCODERS: dict[str, Encoder] = {
    "session_id": _str,
    "title": _str,
    "title_source": _enum(TitleSource),
    "cwd": _str_or_none,
    "project_id": _str_or_none,
    "archived": _bool,
    "system_owned": _bool,
    "materialized": _bool,
    "status": _str,
    "model": _str_or_none,
    "preview": _str,
    "created_at": _dt,
    "updated_at": _dt,
    "controls": controls_to_json,
    "active_turn_id": _str_or_none,
    "last_turn_id": _str_or_none,
    "dynamic_tools": _tools,
    "runtime_thread_id": _str_or_none,
    "model_provider": _str_or_none,
}
SESSION_COLUMNS = tuple(SESSION_ENCODERS)

TURN_ENCODERS: dict[str, Encoder] = {
    "turn_id": _str,
    "thread_id": _str,
    "status": _enum(TurnStatus),
    "started_at": _dt,
    "completed_at": _dt_or_none,
    "final_text": _str_or_none,
    "error": _str_or_none,
}
TURN_COLUMNS = tuple(TURN_ENCODERS)

REQUEST_ENCODERS: dict[str, Encoder] = {
    "request_id": _str,
    "kind": _enum(RequestKind),
    "method": _str,
    "generation": _int,
    "rpc_id": _rpc_id,
    "thread_id": _str_or_none,
    "turn_id": _str_or_none,
    "item_id": _str_or_none,
    "params": _json,
    "status": _enum(RequestStatus),
    "created_at": _dt,
    "resolved_at": _dt_or_none,
    "resolution": _json_or_none,
    "reason": _str_or_none,
    "expires_at": _dt_or_none,
}
REQUEST_COLUMNS = tuple(REQUEST_ENCODERS)

TRANSCRIPT_ENCODERS: dict[str, Encoder] = {
    "message_id": _str,
    "turn_id": _str,
    "role": _str,
    "type": _str,
    "content": _str,
    "status": _str,
    "details": _json_or_none,
    "started_at": _dt_or_none,
    "completed_at": _dt_or_none,
    "anchor_item_id": _str_or_none,
}
TRANSCRIPT_COLUMNS = ("thread_id", *TRANSCRIPT_ENCODERS)

PROJECT_COLUMNS = (
    "project_id",
    "name",
    "name_key",
    "working_directory",
    "created_at",
    "updated_at",
)
TOMBSTONE_COLUMNS = ("session_id", "title", "deleted_at")
EVENT_COLUMNS = ("seq", "type", "thread_id", "payload", "at", "item_id", "delta", "system")


def _encode_record(encoders: Mapping[str, Encoder], record: Any, kind: str) -> Row:
    return tuple(enc(getattr(record, name), f"{kind}.{name}") for name, enc in encoders.items())


def check_changes(
    encoders: Mapping[str, Encoder], changes: Mapping[str, Any], kind: str, fixed: tuple[str, ...]
) -> None:
    """Reject field names that do not exist (or may not change): a programming error."""
    for name in changes:
        if name not in encoders:
            raise ValueError(f"{kind} has no field {name!r} (known: {sorted(encoders)})")
        if name in fixed:
            raise ValueError(f"{kind}.{name} cannot be changed by a patch")


def encode_changes(
    encoders: Mapping[str, Encoder], changes: Mapping[str, Any], kind: str, fixed: tuple[str, ...]
) -> dict[str, Any]:
    """Validate field names and encode the values of a patch, column name -> stored value."""
    check_changes(encoders, changes, kind, fixed)
    return {name: encoders[name](value, f"{kind}.{name}") for name, value in changes.items()}


# sessions


def encode_session(session: SessionRecord) -> Row:
    return _encode_record(SESSION_ENCODERS, session, "session")


def decode_session(row: Row) -> SessionRecord:
    (
        session_id,
        title,
        title_source,
        cwd,
        project_id,
        archived,
        system_owned,
        materialized,
        status,
        model,
        preview,
        created_at,
        updated_at,
        controls,
        active_turn_id,
        last_turn_id,
        dynamic_tools,
        runtime_thread_id,
        model_provider,
    ) = row
    return SessionRecord(
        session_id=session_id,
        title=title,
        title_source=TitleSource(title_source),
        cwd=cwd,
        project_id=project_id,
        archived=bool(archived),
        system_owned=bool(system_owned),
        materialized=bool(materialized),
        status=status,
        model=model,
        preview=preview,
        created_at=dec_dt(created_at),
        updated_at=dec_dt(updated_at),
        controls=controls_from_json(controls),
        active_turn_id=active_turn_id,
        last_turn_id=last_turn_id,
        dynamic_tools=tuple(json.loads(dynamic_tools)),
        runtime_thread_id=runtime_thread_id,
        model_provider=model_provider,
    )


# turns


def encode_turn(turn: TurnRecord) -> Row:
    return _encode_record(TURN_ENCODERS, turn, "turn")


def decode_turn(row: Row) -> TurnRecord:
    turn_id, thread_id, status, started_at, completed_at, final_text, error = row
    return TurnRecord(
        turn_id=turn_id,
        thread_id=thread_id,
        status=TurnStatus(status),
        started_at=dec_dt(started_at),
        completed_at=dec_dt_or_none(completed_at),
        final_text=final_text,
        error=error,
    )


# interactive requests


def encode_request(request: InteractiveRequest) -> Row:
    return _encode_record(REQUEST_ENCODERS, request, "request")


def decode_request(row: Row) -> InteractiveRequest:
    (
        request_id,
        kind,
        method,
        generation,
        rpc_id,
        thread_id,
        turn_id,
        item_id,
        params,
        status,
        created_at,
        resolved_at,
        resolution,
        reason,
        expires_at,
    ) = row
    return InteractiveRequest(
        request_id=request_id,
        kind=RequestKind(kind),
        method=method,
        generation=generation,
        rpc_id=rpc_id,
        thread_id=thread_id,
        turn_id=turn_id,
        item_id=item_id,
        params=json.loads(params),
        status=RequestStatus(status),
        created_at=dec_dt(created_at),
        resolved_at=dec_dt_or_none(resolved_at),
        resolution=load_json_or_none(resolution),
        reason=reason,
        expires_at=dec_dt_or_none(expires_at),
    )


# transcript entries


def encode_transcript_entry(thread_id: str, entry: TranscriptEntry) -> Row:
    return (
        _str(thread_id, "transcript.thread_id"),
        *_encode_record(TRANSCRIPT_ENCODERS, entry, "transcript"),
    )


def decode_transcript_entry(row: Row) -> TranscriptEntry:
    (
        _thread_id,
        message_id,
        turn_id,
        role,
        type_,
        content,
        status,
        details,
        started_at,
        completed_at,
        anchor_item_id,
    ) = row
    return TranscriptEntry(
        message_id=message_id,
        turn_id=turn_id,
        role=role,
        type=type_,
        content=content,
        status=status,
        details=load_json_or_none(details),
        started_at=dec_dt_or_none(started_at),
        completed_at=dec_dt_or_none(completed_at),
        anchor_item_id=anchor_item_id,
    )


# projects


def name_key(name: str) -> str:
    """The case-insensitive form project names are matched and sorted by."""
    return name.casefold()


def encode_project(project: Project) -> Row:
    name = _str(project.name, "project.name")
    return (
        _str(project.project_id, "project.project_id"),
        name,
        name_key(name),
        _str_or_none(project.working_directory, "project.working_directory"),
        enc_dt(project.created_at, "project.created_at"),
        enc_dt(project.updated_at, "project.updated_at"),
    )


def decode_project(row: Row) -> Project:
    project_id, name, _key, working_directory, created_at, updated_at = row
    return Project(
        project_id=project_id,
        name=name,
        working_directory=working_directory,
        created_at=dec_dt(created_at),
        updated_at=dec_dt(updated_at),
    )


# tombstones


def encode_tombstone(tombstone: Tombstone) -> Row:
    return (
        _str(tombstone.session_id, "tombstone.session_id"),
        _str(tombstone.title, "tombstone.title"),
        enc_dt(tombstone.deleted_at, "tombstone.deleted_at"),
    )


def decode_tombstone(row: Row) -> Tombstone:
    session_id, title, deleted_at = row
    return Tombstone(session_id=session_id, title=title, deleted_at=dec_dt(deleted_at))


# events


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
        _str(type_, "event.type")
        _str_or_none(thread_id, "event.thread_id")
        _str_or_none(item_id, "event.item_id")
        _bool(delta, "event.delta")
        _bool(system, "event.system")
    payload = draft.payload
    if payload is not None:
        try:
            payload = _dumps(payload)
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


# ---------------------------------------------------------------------- session cursor


def encode_cursor(updated_at: float, session_id: str) -> str:
    """An opaque keyset cursor: the (updated_at, session_id) of the last row of a page."""
    raw = json.dumps([updated_at, session_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, session_id = json.loads(raw)
        if isinstance(updated_at, bool) or not isinstance(updated_at, (int, float)):
            raise TypeError
        if not isinstance(session_id, str):
            raise TypeError
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError(f"invalid session cursor {cursor!r}") from None
    return float(updated_at), session_id

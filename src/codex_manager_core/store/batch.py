"""Write batches: the only way state changes reach a Store.

A `Batch` is a list of declarative mutations plus the events that describe them. A store
applies a batch atomically: every mutation and every event, or none (the events get their
`seq` in the same transaction, so the ledger can never say something happened that the
state does not show, or the reverse). A `TransitionRequest` whose row is not in an expected
status makes the whole batch fail with `StoreConflict`, which is how "exactly one answer
wins" is enforced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from codex_manager_core.models import (
    Controls,
    EventDraft,
    InteractiveRequest,
    Project,
    RequestStatus,
    SessionRecord,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
)


class StoreConflict(Exception):
    """A compare-and-set precondition of a batch did not hold; nothing was written."""

    def __init__(self, key: str, current: str | None, expected: Sequence[str]) -> None:
        self.key = key
        self.current = current
        self.expected = tuple(expected)
        super().__init__(f"{key} is {current or 'missing'}, expected one of {list(expected)}")


class StoreCorrupt(Exception):
    """The store's files cannot be used (not a database, or a newer schema version)."""


@attrs.frozen
class PutProject:
    project: Project


@attrs.frozen
class DeleteProject:
    """Remove the project row only: sessions that name it are left as they are (patch them
    in the same batch, with their events)."""

    project_id: str


@attrs.frozen
class PutSession:
    """Insert or replace a whole session record."""

    session: SessionRecord


@attrs.frozen
class PatchSession:
    """Change some fields of a session record (names of `SessionRecord` fields). A missing
    session is ignored, so notifications about unknown threads cannot resurrect rows. An
    unknown field name, or `session_id`, raises ValueError (even for a missing session)."""

    session_id: str
    changes: Mapping[str, Any]


@attrs.frozen
class DeleteSession:
    """Remove a session's overlay, turns, transcript entries, invalidate its open requests
    (reason given, `resolved_at` = the tombstone's `deleted_at`) and leave (or replace) a
    tombstone. The ledger keeps the session's events."""

    tombstone: Tombstone
    reason: str = "session deleted"


@attrs.frozen
class PutDefaultControls:
    controls: Controls


@attrs.frozen
class PutTurn:
    turn: TurnRecord


@attrs.frozen
class PatchTurn:
    """As PatchSession, for `TurnRecord` fields (`turn_id` cannot change)."""

    turn_id: str
    changes: Mapping[str, Any]


@attrs.frozen
class PutRequest:
    request: InteractiveRequest


@attrs.frozen
class TransitionRequest:
    """Compare-and-set: move a request from one of `from_statuses` to `to_status`, setting
    `changes` (names of `InteractiveRequest` fields, not `request_id` or `status`, else
    ValueError). Fails the batch with StoreConflict (key "request <id>") otherwise."""

    request_id: str
    from_statuses: tuple[RequestStatus, ...]
    to_status: RequestStatus
    changes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PutTranscriptEntry:
    """Insert or replace by (thread_id, entry.message_id)."""

    thread_id: str
    entry: TranscriptEntry


@attrs.frozen
class SetMeta:
    key: str
    value: str


@attrs.frozen
class CompactDeltas:
    """Drop delta events (EventDraft.delta) older than `before` whose item has completed
    (an event of type `completed_type` with the same item_id exists). Sees the ledger as it
    was before this batch; `last_seq` is unaffected (a seq is never handed out twice)."""

    before: datetime
    completed_type: str = "app_server.item.completed"


Mutation: TypeAlias = (
    PutProject
    | DeleteProject
    | PutSession
    | PatchSession
    | DeleteSession
    | PutDefaultControls
    | PutTurn
    | PatchTurn
    | PutRequest
    | TransitionRequest
    | PutTranscriptEntry
    | SetMeta
    | CompactDeltas
)


@attrs.frozen
class Batch:
    """Mutations are applied in order (a later one sees what an earlier one did), then the
    events are appended with consecutive seqs. Besides StoreConflict, a value that cannot be
    stored (a naive datetime, a payload that is not JSON, an unknown field in a patch) fails
    the batch with TypeError/ValueError, also with nothing written."""

    mutations: tuple[Mutation, ...] = ()
    events: tuple[EventDraft, ...] = ()


@attrs.frozen
class SessionQuery:
    """Filters and keyset paging for listing sessions, newest `updated_at` first."""

    archived: bool | None = False
    """False: only active; True: only archived; None: both."""
    include_system_owned: bool = False
    project_id: str | None = None
    """Only sessions of this project; "" for sessions without a project."""
    cursor: str | None = None
    """`Page.next_cursor` of the previous page; anything else raises ValueError."""
    limit: int = 100
    """At least 1 (ValueError otherwise)."""


@attrs.frozen
class Page:
    items: tuple[Any, ...]
    next_cursor: str | None


@attrs.frozen
class EventQuery:
    since: int = 0
    """Events with seq > since."""
    until: int | None = None
    """And seq <= until."""
    limit: int = 1000
    thread_ids: frozenset[str] | None = None
    """Only the events of these threads, their system events included (thread-less events
    are not; an empty set matches nothing). None: every thread, without system events."""
    type_prefixes: tuple[str, ...] | None = None
    """Plain, case-sensitive prefixes of `type` (any may match); an empty tuple matches
    nothing."""


@attrs.frozen
class RequestQuery:
    thread_id: str | None = None
    turn_id: str | None = None
    statuses: tuple[RequestStatus, ...] | None = None
    kinds: tuple[str, ...] | None = None
    generation: int | None = None
    generation_below: int | None = None


@attrs.frozen
class StoreStats:
    events: int
    last_seq: int
    sessions: int
    projects: int
    open_requests: int
    size_bytes: int | None

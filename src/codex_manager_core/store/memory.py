"""MemoryStore: the Store port in memory, for tests and ephemeral embedded use.

The jobs table and its reads are in `memory_jobs.py`, the workers table in
`memory_workers.py`, action receipts in `memory_actions.py`, the extension audit in
`memory_extension_audit.py`, the undo log in
`memory_undo.py`.

It behaves like `SqliteStore` in everything a caller can observe: records go through the
same codecs (`store.codec`), so reads return tz-aware UTC datetimes and JSON round-tripped
values, and a value SQLite could not store fails here too, at `apply()` time.

`apply()` is atomic without copying whole tables: every write records how to undo itself,
and the log is replayed backwards when a mutation fails (a `StoreConflict`, a bad field
name, a value that is not JSON). Delta compaction is decided while the batch runs but only
carried out at commit, so the event ledger never needs undoing. Rows carry the number of
their first insertion, the analogue of a SQLite rowid: a replaced row keeps its position and
an undone delete puts it back where it was.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import anyio.lowlevel

from codex_manager_core.models import (
    Controls,
    Event,
    InteractiveRequest,
    Project,
    RequestStatus,
    SessionRecord,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
)
from codex_manager_core.ports.store import (
    ActionReceipt,
    AuditRecord,
    Batch,
    CompactDeltas,
    DeleteJobs,
    DeleteProject,
    DeleteSession,
    DeleteWorkers,
    EventQuery,
    JobQuery,
    Mutation,
    Page,
    PatchJob,
    PatchSession,
    PatchTurn,
    PutActionReceipt,
    PutAuditRecord,
    PutDefaultControls,
    PutJob,
    PutProject,
    PutRequest,
    PutSession,
    PutTranscriptEntry,
    PutTurn,
    PutWorker,
    RequestQuery,
    SessionQuery,
    SetMeta,
    StoreConflict,
    StoreStats,
    TransitionJob,
    TransitionRequest,
    WorkerRecord,
)
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.store import codec, event_rows
from codex_manager_core.store.memory_actions import MemoryActions
from codex_manager_core.store.memory_extension_audit import MemoryExtensionAudit
from codex_manager_core.store.memory_jobs import MemoryJobs
from codex_manager_core.store.memory_undo import Undo
from codex_manager_core.store.memory_workers import MemoryWorkers

K = TypeVar("K")
V = TypeVar("V")


def _ordered(rows: Iterable[tuple[int, V]]) -> list[V]:
    return [value for _order, value in sorted(rows, key=lambda row: row[0])]


class MemoryStore:
    """The `Store` port in memory. Nothing survives the process; everything else is as in
    `SqliteStore` (see the contract suite in tests/contract/test_store_contract.py)."""

    def __init__(self) -> None:
        self._opened = False
        self._closed = False
        self._order = itertools.count(1)
        self._meta: dict[str, str] = {}
        self._default_controls: dict[int, Controls] = {}
        self._projects: dict[str, tuple[int, Project]] = {}
        self._sessions: dict[str, tuple[int, SessionRecord]] = {}
        self._tombstones: dict[str, tuple[int, Tombstone]] = {}
        self._turns: dict[str, tuple[int, TurnRecord]] = {}
        self._requests: dict[str, tuple[int, InteractiveRequest]] = {}
        self._transcripts: dict[str, dict[str, tuple[int, TranscriptEntry]]] = {}
        self._jobs = MemoryJobs()
        self._workers = MemoryWorkers()
        self._actions = MemoryActions()
        self._extension_audit = MemoryExtensionAudit()
        self._events: list[Event] = []
        self._last_seq = 0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await anyio.lowlevel.checkpoint()
        if self._closed:
            raise RuntimeError("MemoryStore was closed; create a new one")
        self._opened = True

    async def close(self) -> None:
        self._closed = True  # before the checkpoint: a cancelled close still closes
        await anyio.lowlevel.checkpoint()

    async def _ready(self) -> None:
        """A checkpoint per call, like the real adapter's awaits, and a use-before-open
        check, so code developed against MemoryStore does not break on SqliteStore."""
        await anyio.lowlevel.checkpoint()
        if self._closed:
            raise RuntimeError("MemoryStore is closed")
        if not self._opened:
            raise RuntimeError("MemoryStore is not open: call `await store.open()` first")

    # ------------------------------------------------------------------ writes

    async def apply(self, batch: Batch) -> list[Event]:
        await self._ready()
        # Encode every event first: a payload that is not JSON fails before any change.
        encoded = [event_rows.encode_draft(draft) for draft in batch.events]
        undo = Undo()
        doomed: set[int] = set()
        try:
            for mutation in batch.mutations:
                self._mutate(mutation, undo, doomed)
        except BaseException:
            undo.rollback()
            raise
        if doomed:
            self._events = [event for event in self._events if event.seq not in doomed]
        first = self._last_seq + 1
        self._events.extend(
            event_rows.decode_event((seq, *row)) for seq, row in enumerate(encoded, start=first)
        )
        self._last_seq += len(encoded)
        return [
            event_rows.stored_event(seq, draft, row[3])
            for seq, (draft, row) in enumerate(zip(batch.events, encoded, strict=True), first)
        ]

    def _put(self, undo: Undo, table: dict[str, tuple[int, V]], key: str, value: V) -> None:
        previous = table.get(key)
        order = previous[0] if previous is not None else next(self._order)
        undo.set(table, key, (order, value))

    def _mutate(self, mutation: Mutation, undo: Undo, doomed: set[int]) -> None:
        match mutation:
            case PutProject(project):
                canonical = codec.PROJECTS.canonical(project)
                self._put(undo, self._projects, canonical.project_id, canonical)
            case DeleteProject(project_id):
                undo.delete(self._projects, project_id)
            case PutSession(session):
                session = codec.SESSIONS.canonical(session)
                self._put(undo, self._sessions, session.session_id, session)
            case PatchSession(session_id, changes):
                encoded = codec.SESSIONS.encode_changes(changes, ("session_id",))
                if (current := self._sessions.get(session_id)) is not None:
                    patched = codec.SESSIONS.patched(current[1], encoded)
                    self._put(undo, self._sessions, session_id, patched)
            case DeleteSession(tombstone, reason):
                self._delete_session(tombstone, reason, undo)
            case PutDefaultControls(controls):
                defaults = codec.controls_from_json(codec.controls_to_json(controls))
                undo.set(self._default_controls, 0, defaults)
            case PutTurn(turn):
                turn = codec.TURNS.canonical(turn)
                self._put(undo, self._turns, turn.turn_id, turn)
            case PatchTurn(turn_id, changes):
                encoded = codec.TURNS.encode_changes(changes, ("turn_id",))
                if (current_turn := self._turns.get(turn_id)) is not None:
                    patched_turn = codec.TURNS.patched(current_turn[1], encoded)
                    self._put(undo, self._turns, turn_id, patched_turn)
            case PutRequest(request):
                request = codec.REQUESTS.canonical(request)
                self._put(undo, self._requests, request.request_id, request)
            case TransitionRequest(request_id, from_statuses, to_status, changes):
                self._transition(request_id, from_statuses, to_status, changes, undo)
            case PutTranscriptEntry(thread_id, entry):
                codec.check_str(thread_id, "transcript.thread_id")
                canonical_entry = codec.TRANSCRIPT.canonical(entry)
                entries = self._transcripts.get(thread_id)
                if entries is None:
                    entries = {}
                    undo.set(self._transcripts, thread_id, entries)
                self._put(undo, entries, entry.message_id, canonical_entry)
            case SetMeta(key, value):
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TypeError("meta keys and values are str")
                undo.set(self._meta, key, value)
            case CompactDeltas(before, completed_type):
                doomed.update(self._compactable(before, completed_type))
            case PutJob() | TransitionJob() | PatchJob() | DeleteJobs():
                self._jobs.mutate(mutation, undo)
            case PutWorker() | DeleteWorkers():
                self._workers.mutate(mutation, undo)
            case PutActionReceipt():
                self._actions.mutate(mutation, undo)
            case PutAuditRecord():
                self._extension_audit.mutate(mutation, undo)
            case _:
                raise TypeError(f"not a store mutation: {mutation!r}")

    def _delete_session(self, tombstone: Tombstone, reason: str, undo: Undo) -> None:
        tombstone = codec.TOMBSTONES.canonical(tombstone)
        session_id = tombstone.session_id
        undo.delete(self._sessions, session_id)
        for turn_id in [k for k, (_, t) in self._turns.items() if t.thread_id == session_id]:
            undo.delete(self._turns, turn_id)
        undo.delete(self._transcripts, session_id)
        for request_id, (_order, request) in list(self._requests.items()):
            if request.thread_id == session_id and request.status.open:
                invalidated = _evolve_request(
                    request,
                    {
                        "status": RequestStatus.INVALIDATED,
                        "reason": reason,
                        "resolved_at": tombstone.deleted_at,
                    },
                )
                self._put(undo, self._requests, request_id, invalidated)
        self._put(undo, self._tombstones, session_id, tombstone)

    def _transition(
        self,
        request_id: str,
        from_statuses: tuple[RequestStatus, ...],
        to_status: RequestStatus,
        changes: Mapping[str, Any],
        undo: Undo,
    ) -> None:
        encoded = codec.REQUESTS.encode_changes(changes, ("request_id", "status"))
        encoded["status"] = RequestStatus(to_status).value
        expected = [RequestStatus(status).value for status in from_statuses]
        current = self._requests.get(request_id)
        status = current[1].status.value if current is not None else None
        if current is None or status not in expected:
            raise StoreConflict(f"request {request_id}", status, expected)
        self._put(undo, self._requests, request_id, codec.REQUESTS.patched(current[1], encoded))

    def _compactable(self, before: datetime, completed_type: str) -> set[int]:
        limit = codec.enc_dt(before, "CompactDeltas.before")
        completed = {
            event.item_id
            for event in self._events
            if event.type == completed_type and event.item_id is not None
        }
        return {
            event.seq
            for event in self._events
            if event.delta and event.item_id in completed and codec.enc_dt(event.at) < limit
        }

    # ------------------------------------------------------------------ reads

    async def get_meta(self, key: str) -> str | None:
        await self._ready()
        return self._meta.get(key)

    async def get_project(self, project_id: str) -> Project | None:
        await self._ready()
        return _value(self._projects.get(project_id))

    async def find_project_by_name(self, name: str) -> Project | None:
        await self._ready()
        key = codec.name_key(name)
        matches = [
            (project.created_at, project.project_id, project)
            for _order, project in self._projects.values()
            if codec.name_key(project.name) == key
        ]
        return min(matches, key=lambda match: match[:2])[2] if matches else None

    async def list_projects(self) -> list[Project]:
        await self._ready()
        projects = [project for _order, project in self._projects.values()]
        return sorted(projects, key=lambda p: (codec.name_key(p.name), p.project_id))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        await self._ready()
        return _value(self._sessions.get(session_id))

    def _matching_sessions(self, query: SessionQuery) -> list[SessionRecord]:
        return [
            session
            for _order, session in self._sessions.values()
            if (query.archived is None or session.archived == query.archived)
            and (query.include_system_owned or not session.system_owned)
            and (query.project_id is None or session.project_id == (query.project_id or None))
        ]

    async def list_sessions(self, query: SessionQuery) -> Page:
        await self._ready()
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, got {query.limit}")
        matching = self._matching_sessions(query)
        if query.cursor is not None:
            stamp, session_id = codec.decode_cursor(query.cursor)
            # Cursors carry the stored float; as a datetime it is exactly the stored value.
            after = (codec.dec_dt(stamp), session_id)
            matching = [s for s in matching if (s.updated_at, s.session_id) < after]
        # Newest-inserted first: rows are mostly inserted in updated_at order, and nlargest
        # fed ascending input replaces its heap top on every row (~6x slower at 10k rows).
        page = heapq.nlargest(
            query.limit + 1, reversed(matching), key=lambda s: (s.updated_at, s.session_id)
        )
        next_cursor = None
        if len(page) > query.limit:
            last = page[query.limit - 1]
            next_cursor = codec.encode_cursor(codec.enc_dt(last.updated_at), last.session_id)
        return Page(items=tuple(page[: query.limit]), next_cursor=next_cursor)

    async def count_sessions(self, query: SessionQuery) -> int:
        await self._ready()
        return len(self._matching_sessions(query))

    async def get_tombstone(self, session_id: str) -> Tombstone | None:
        await self._ready()
        return _value(self._tombstones.get(session_id))

    async def get_default_controls(self) -> Controls | None:
        await self._ready()
        return self._default_controls.get(0)

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        await self._ready()
        return _value(self._turns.get(turn_id))

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        await self._ready()
        rows = [
            (order, turn) for order, turn in self._turns.values() if turn.thread_id == thread_id
        ]
        rows.sort(key=lambda row: (row[1].started_at, row[0]))
        return [turn for _order, turn in rows]

    async def get_request(self, request_id: str) -> InteractiveRequest | None:
        await self._ready()
        return _value(self._requests.get(request_id))

    async def list_requests(self, query: RequestQuery) -> list[InteractiveRequest]:
        await self._ready()
        statuses = None if query.statuses is None else {RequestStatus(s) for s in query.statuses}
        kinds = None if query.kinds is None else {str(kind) for kind in query.kinds}
        rows = [
            (order, request)
            for order, request in self._requests.values()
            if (query.thread_id is None or request.thread_id == query.thread_id)
            and (query.turn_id is None or request.turn_id == query.turn_id)
            and (statuses is None or request.status in statuses)
            and (kinds is None or request.kind.value in kinds)
            and (query.generation is None or request.generation == query.generation)
            and (query.generation_below is None or request.generation < query.generation_below)
        ]
        rows.sort(key=lambda row: (row[1].created_at, row[0]))
        return [request for _order, request in rows]

    async def list_transcript_entries(self, thread_id: str) -> list[TranscriptEntry]:
        await self._ready()
        return _ordered(self._transcripts.get(thread_id, {}).values())

    async def read_events(self, query: EventQuery) -> list[Event]:
        await self._ready()
        if query.limit < 1:
            return []
        start = bisect.bisect_right(self._events, query.since, key=lambda event: event.seq)
        accept = _event_filter(query)
        found: list[Event] = []
        for event in itertools.islice(self._events, start, None):
            if query.until is not None and event.seq > query.until:
                break
            if accept(event):
                found.append(event)
                if len(found) >= query.limit:
                    break
        return found

    async def last_seq(self) -> int:
        await self._ready()
        return self._last_seq

    async def get_job(self, job_id: str) -> Job | None:
        await self._ready()
        return self._jobs.get_job(job_id)

    async def list_jobs(self, query: JobQuery) -> Page:
        await self._ready()
        return self._jobs.page(query)

    async def count_jobs(self, owner: str | None = None) -> dict[JobState, int]:
        await self._ready()
        return self._jobs.count(owner)

    async def queued_jobs(self, limit: int) -> list[Job]:
        await self._ready()
        return self._jobs.in_state(JobState.QUEUED, limit)

    async def running_jobs(self) -> list[Job]:
        await self._ready()
        return self._jobs.in_state(JobState.RUNNING, None)

    async def get_worker(self, owner: str, agent: str) -> WorkerRecord | None:
        await self._ready()
        return self._workers.get(owner, agent)

    async def list_workers(self, owner: str) -> list[WorkerRecord]:
        await self._ready()
        return self._workers.of_owner(owner)

    async def get_action_receipt(self, key: str) -> ActionReceipt | None:
        await self._ready()
        return self._actions.get(key)

    async def list_extension_audit(self, limit: int = 100) -> list[AuditRecord]:
        await self._ready()
        return self._extension_audit.newest(limit)

    async def stats(self) -> StoreStats:
        await self._ready()
        return StoreStats(
            events=len(self._events),
            last_seq=self._last_seq,
            sessions=len(self._sessions),
            projects=len(self._projects),
            open_requests=sum(1 for _o, r in self._requests.values() if r.status.open),
            size_bytes=None,
        )


def _value(row: tuple[int, V] | None) -> V | None:
    return None if row is None else row[1]


def _evolve_request(request: InteractiveRequest, changes: Mapping[str, Any]) -> InteractiveRequest:
    encoded = codec.REQUESTS.encode_changes(changes, ("request_id",))
    return codec.REQUESTS.patched(request, encoded)


def _event_filter(query: EventQuery) -> Callable[[Event], bool]:
    """The same rule as SqliteStore's WHERE clause: with `thread_ids`, exactly the events of
    those threads (system ones included); without, every non-system event."""
    thread_ids = query.thread_ids
    prefixes = query.type_prefixes

    def accept(event: Event) -> bool:
        if thread_ids is None:
            if event.system:
                return False
        elif event.thread_id not in thread_ids:
            return False
        return prefixes is None or event.type.startswith(tuple(prefixes))

    return accept

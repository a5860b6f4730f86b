"""Session records: the store's rows plus an in-memory copy of them.

Only the Manager writes to its store, so it keeps the records it has read or written in
memory: the hot path (every runtime notification) reads them without a query. Every service
reads and changes sessions through this one object, so the cache, the thread-id map and the
store never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from codex_manager_core.errors import Gone, NotFound, SystemSessionForbidden
from codex_manager_core.events.ledger import Ledger
from codex_manager_core.models import Event, EventDraft, SessionRecord, Tombstone
from codex_manager_core.ports import Clock, Store
from codex_manager_core.ports.store import Batch, Mutation, PatchSession, PutSession
from codex_manager_core.services.context import check_id
from codex_manager_core.thread_ids import ThreadIds


@attrs.define(eq=False)
class SessionRecords:
    store: Store
    ledger: Ledger
    threads: ThreadIds
    clock: Clock
    cache: dict[str, SessionRecord] = attrs.Factory(dict)
    tombstones: dict[str, Tombstone] = attrs.Factory(dict)
    unknown_threads: set[str] = attrs.Factory(set)
    """Thread ids the runtime mentioned that are not sessions of ours (not yet, or never)."""

    async def _write(
        self, mutations: Sequence[Mutation], events: Sequence[EventDraft]
    ) -> list[Event]:
        return await self.ledger.write(Batch(tuple(mutations), tuple(events)))

    async def save(
        self, record: SessionRecord, events: Sequence[EventDraft] = (), *extra: Mutation
    ) -> list[Event]:
        self.cache[record.session_id] = record
        self.threads.bind(record.session_id, record.runtime_thread_id)
        self.unknown_threads.discard(record.session_id)
        try:
            return await self._write([PutSession(record), *extra], events)
        except BaseException:
            self.cache.pop(record.session_id, None)
            raise

    async def patch(
        self,
        session_id: str,
        changes: Mapping[str, Any],
        events: Sequence[EventDraft] = (),
        *extra: Mutation,
    ) -> SessionRecord | None:
        """Change fields of a session (in the cache at once, in the store with `events`)."""
        current = self.cache.get(session_id) or await self.store.get_session(session_id)
        if current is None:
            if events or extra:
                await self._write(extra, events)
            return None
        updated = attrs.evolve(current, **changes)
        self.cache[session_id] = updated
        try:
            await self._write([PatchSession(session_id, dict(changes)), *extra], events)
        except BaseException:
            self.cache.pop(session_id, None)
            raise
        return updated

    async def update(self, session_id: str, changes: Mapping[str, Any]) -> SessionRecord:
        """Change a session and announce it (`session_updated`) in the same transaction."""
        from codex_manager_core.events.payloads import session_view

        current = await self.get(session_id)
        updated = attrs.evolve(current, **changes)
        event = EventDraft(
            "session_updated",
            session_id,
            {"session": session_view(updated)},
            self.clock.utcnow(),
            system=updated.system_owned,
        )
        result = await self.patch(session_id, changes, [event])
        return result if result is not None else updated

    async def find(self, session_id: str) -> SessionRecord | None:
        record = self.cache.get(session_id)
        if record is None:
            stored = await self.store.get_session(session_id)
            # While we awaited, the cache may have got a newer record: it wins. A delete
            # may have begun meanwhile (tombstone set, its store write still queued): then
            # the stored row is stale and must not come back into the cache.
            record = self.cache.get(session_id)
            if record is None and stored is not None and session_id not in self.tombstones:
                record = self.cache[session_id] = stored
                self.threads.bind(session_id, stored.runtime_thread_id)
        return record

    async def tombstone(self, session_id: str) -> Tombstone | None:
        tombstone = self.tombstones.get(session_id)
        if tombstone is None:
            tombstone = await self.store.get_tombstone(session_id)
            if tombstone is not None:
                self.tombstones[session_id] = tombstone
        return tombstone

    async def get(self, session_id: str, *, allow_system: bool = True) -> SessionRecord:
        """The session, or NotFound / Gone / SystemSessionForbidden."""
        check_id(session_id, "session_id")
        record = await self.find(session_id)
        if record is None:
            tombstone = await self.tombstone(session_id)
            if tombstone is not None:
                raise Gone(session_id, tombstone.title, tombstone.deleted_at)
            raise NotFound(f"no session {session_id!r}; list sessions to see the ids")
        if record.system_owned and not allow_system:
            raise SystemSessionForbidden(
                f"session {session_id} is system-owned (a queue worker); it can be read "
                "but not changed"
            )
        return record

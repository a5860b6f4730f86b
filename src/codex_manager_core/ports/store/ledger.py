"""Store domain "ledger": the ordered, durable event stream. Events are appended by every
batch (`Batch.events`); this module holds the ledger's own mutation (compaction of
deltas), its query and its reads."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeAlias

import attrs

from codex_manager_core.models import Event


@attrs.frozen
class CompactDeltas:
    """Drop delta events (EventDraft.delta) older than `before` whose item has completed
    (an event of type `completed_type` with the same item_id exists). Sees the ledger as it
    was before this batch; `last_seq` is unaffected (a seq is never handed out twice)."""

    before: datetime
    completed_type: str = "app_server.item.completed"


LedgerMutation: TypeAlias = CompactDeltas


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


class LedgerReads(Protocol):
    async def read_events(self, query: EventQuery) -> list[Event]:
        """Ascending seq. System events are included only for thread ids named in
        `query.thread_ids`."""
        ...

    async def last_seq(self) -> int:
        """The highest seq ever assigned (even if compaction removed that event); 0 if none."""
        ...


__all__ = ["CompactDeltas", "EventQuery", "LedgerMutation", "LedgerReads"]

"""Writes held in memory while the store refuses them, and the tally of what was dropped.

When the disk is full (or the data directory turned read-only) the runtime keeps talking:
its notifications were acknowledged to nobody in particular, but a client was told its turn
started, so they must not vanish. The ledger holds them here, in arrival order, and writes
them once the store accepts writes again.

Memory is bounded: past `limit` events the oldest held events are dropped (their state
changes are kept: they are a few small rows per turn and the session would be wrong
without them). What was dropped is tallied per thread, and `markers()` turns the tally into
`ledger_events_lost` events, written ahead of the surviving held events, at the place of
the gap, so a subscriber knows how many events it will never see, and from when to when.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Final

import anyio
import attrs

from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports.store import Batch, Mutation
from codex_manager_core.serde import iso

#: Type of the event written when held events had to be dropped.
EVENTS_LOST: Final = "ledger_events_lost"


class Job:
    """One write queued for the ledger's writer; `done` is set when a caller waits."""

    __slots__ = ("batch", "done", "error", "events")

    def __init__(self, batch: Batch, wait: bool) -> None:
        self.batch = batch
        self.done: anyio.Event | None = anyio.Event() if wait else None
        self.events: list[Event] = []
        self.error: BaseException | None = None

    def finish(self, events: list[Event] | None, error: BaseException | None) -> None:
        self.events = events or []
        self.error = error
        if self.done is not None:
            self.done.set()


@attrs.define
class _Gap:
    """Events dropped from one thread's part of the hold."""

    count: int
    first_at: datetime
    last_at: datetime
    system: bool


@attrs.define
class HeldWrites:
    """The bounded, ordered hold (see the module docstring)."""

    limit: int
    jobs: deque[Job] = attrs.Factory(deque)
    events: int = 0
    """Events in `jobs`."""
    kept_mutations: list[Mutation] = attrs.Factory(list)
    """State changes of dropped jobs: written (before every held job) when writes resume."""
    gaps: dict[str | None, _Gap] = attrs.Factory(dict)
    """Dropped events not yet announced, per thread id (None: events of no thread)."""
    lost_total: int = 0
    """Every event dropped since the ledger started (announced or not)."""

    def __bool__(self) -> bool:
        return bool(self.jobs or self.kept_mutations or self.gaps)

    def hold(self, job: Job) -> None:
        """Keep `job` (in order); drop the oldest events if that goes past the limit."""
        self.jobs.append(job)
        self.events += len(job.batch.events)
        while self.events > self.limit and self.jobs:
            self.drop_oldest()

    def drop_oldest(self) -> None:
        """Drop the oldest held job's events (keeping its state changes) and tally them."""
        job = self.jobs.popleft()
        self.kept_mutations.extend(job.batch.mutations)
        self.events -= len(job.batch.events)
        self.lost_total += len(job.batch.events)
        for draft in job.batch.events:
            gap = self.gaps.get(draft.thread_id)
            if gap is None:
                self.gaps[draft.thread_id] = _Gap(1, draft.at, draft.at, draft.system)
            else:
                gap.count += 1
                gap.first_at = min(gap.first_at, draft.at)
                gap.last_at = max(gap.last_at, draft.at)
                gap.system = gap.system and draft.system
        job.finish(None, None)

    def lost_unannounced(self) -> int:
        return sum(gap.count for gap in self.gaps.values())

    def markers(self, at: datetime, reason: str) -> Batch:
        """The write that goes first when writes resume: the kept state changes and one
        `ledger_events_lost` event per thread that lost events (system-owned threads'
        markers are system events, like the events they stand for)."""
        drafts = tuple(
            EventDraft(
                EVENTS_LOST,
                thread_id,
                {
                    "threadId": thread_id,
                    "count": gap.count,
                    "firstAt": iso(gap.first_at),
                    "lastAt": iso(gap.last_at),
                    "reason": reason,
                    "message": (
                        f"{gap.count} event(s) from {iso(gap.first_at)} to "
                        f"{iso(gap.last_at)} could not be stored and are lost; read the "
                        "thread again for its current state"
                    ),
                },
                at,
                system=gap.system,
            )
            for thread_id, gap in self.gaps.items()
        )
        return Batch(tuple(self.kept_mutations), drafts)

    def markers_written(self) -> None:
        self.kept_mutations.clear()
        self.gaps.clear()

    def take(self, max_size: int) -> list[Job]:
        """The oldest held jobs, up to about `max_size` events and mutations (at least one)."""
        taken: list[Job] = []
        size = 0
        for job in self.jobs:
            if taken and size + _size(job) > max_size:
                break
            taken.append(job)
            size += _size(job)
        return taken

    def written(self, jobs: list[Job]) -> None:
        """`jobs` (the oldest held ones) are stored: forget them."""
        for job in jobs:
            assert self.jobs[0] is job
            self.jobs.popleft()
            self.events -= len(job.batch.events)


def _size(job: Job) -> int:
    return len(job.batch.events) + len(job.batch.mutations)

"""The ledger writer: the one task that writes to the store and publishes events.

Every state change and every event goes through `Ledger.write` (wait for the commit) or
`Ledger.append` (events only, queued). One writer task applies them in arrival order, so
`seq` is assigned in one place and published in seq order right after each commit: an event
is never seen by a subscriber before it is durable, and never out of order.

Throughput comes from batching: while one transaction commits, later writes queue up and
the next transaction takes all of them at once (streaming deltas arrive in bursts). A
compare-and-set (and compaction) is applied on its own, so its conflict fails only its
caller; if a merged transaction fails, each of its writes is retried alone, so a bad write
fails only itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_manager_core.events.bus import EventBus
from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports import Store
from codex_manager_core.store.batch import Batch, CompactDeltas, TransitionRequest

logger = logging.getLogger(__name__)

#: Most events and mutations one transaction takes when merging queued writes (bigger
#: transactions raise throughput a little and the latency of the first write in them more).
MAX_MERGED_EVENTS = 500
#: Queued writes before `submit` waits. This is back-pressure on the runtime reader (never
#: on subscribers) when the disk cannot keep up, and it bounds how long a burst waits for
#: the ledger: at ~20k events/s, 2048 queued writes are ~100 ms.
QUEUE_SIZE = 2048


def _mergeable(job: _Job) -> bool:
    """Whether a write may share a transaction with others. A compare-and-set must fail
    alone (its conflict is its caller's answer), and compaction is slow maintenance."""
    return not any(
        isinstance(mutation, TransitionRequest | CompactDeltas) for mutation in job.batch.mutations
    )


def _size(job: _Job) -> int:
    return len(job.batch.events) + len(job.batch.mutations)


class _Job:
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
class LedgerStats:
    transactions: int = 0
    events: int = 0
    failed_writes: int = 0
    largest_batch: int = 0


class Ledger:
    """Serialises writes to the store and publishes their events to the bus."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self.stats = LedgerStats()
        send, receive = anyio.create_memory_object_stream[_Job](QUEUE_SIZE)
        self._send: MemoryObjectSendStream[_Job] = send
        self._receive: MemoryObjectReceiveStream[_Job] = receive
        self._running = False

    async def write(self, batch: Batch) -> list[Event]:
        """Apply `batch` atomically; return its events with their seq once published.
        Raises what the store raised (e.g. StoreConflict); then nothing was written."""
        job = _Job(batch, wait=True)
        await self._send.send(job)
        assert job.done is not None
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.events

    async def emit(self, *drafts: EventDraft) -> list[Event]:
        """Write events (no state change) and wait until they are durable and published."""
        return await self.write(Batch(events=drafts))

    async def submit(self, batch: Batch) -> None:
        """Queue a write without waiting for its commit (the runtime's notification path).
        Order is kept with every other write; a failure is logged."""
        if batch.mutations or batch.events:
            job = _Job(batch, wait=False)
            try:
                # No yield to the event loop while there is room: the reader keeps going
                # and the writer then takes many writes in one transaction.
                self._send.send_nowait(job)
            except anyio.WouldBlock:
                await self._send.send(job)

    async def append(self, drafts: Sequence[EventDraft]) -> None:
        """Queue events (no state change) without waiting for the commit."""
        await self.submit(Batch(events=tuple(drafts)))

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The writer loop. Ends when `close()` was called and the queue is drained."""
        self._running = True
        task_status.started()
        receive = self._receive
        carry: _Job | None = None
        try:
            while True:
                if carry is not None:
                    first, carry = carry, None
                else:
                    try:
                        first = await receive.receive()
                    except anyio.EndOfStream:
                        return
                jobs = [first]
                if _mergeable(first):
                    count = _size(first)
                    while count < MAX_MERGED_EVENTS:
                        try:
                            job = receive.receive_nowait()
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                        if not _mergeable(job):
                            carry = job
                            break
                        jobs.append(job)
                        count += _size(job)
                # Shielded: a write that started is finished and published even while the
                # manager shuts down; the caller's transaction must not be half-reported.
                with anyio.CancelScope(shield=True):
                    await self._apply(jobs)
        finally:
            self._running = False
            self._receive.close()

    async def _apply(self, jobs: list[_Job]) -> None:
        if len(jobs) == 1:
            await self._apply_one(jobs[0])
            return
        merged = Batch(
            tuple(mutation for job in jobs for mutation in job.batch.mutations),
            tuple(draft for job in jobs for draft in job.batch.events),
        )
        try:
            events = await self.store.apply(merged)
        except Exception:
            # Isolate the failure: retry each write alone so only the bad one fails.
            for job in jobs:
                await self._apply_one(job)
            return
        self._published(events)
        offset = 0
        for job in jobs:
            size = len(job.batch.events)
            job.finish(events[offset : offset + size], None)
            offset += size

    async def _apply_one(self, job: _Job) -> None:
        try:
            events = await self.store.apply(job.batch)
        except Exception as exc:
            self.stats.failed_writes += 1
            if job.done is None:
                logger.error(
                    "could not write %d event(s) to the ledger: %r",
                    len(job.batch.events),
                    exc,
                )
            job.finish(None, exc)
            return
        self._published(events)
        job.finish(events, None)

    def _published(self, events: list[Event]) -> None:
        self.stats.transactions += 1
        self.stats.events += len(events)
        self.stats.largest_batch = max(self.stats.largest_batch, len(events))
        self.bus.publish(events)

    async def close(self) -> None:
        """No more writes; the writer finishes what is queued, then `run` returns."""
        await self._send.aclose()

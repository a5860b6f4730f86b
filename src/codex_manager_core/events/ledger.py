"""The ledger writer: the one task that writes to the store and publishes events.

Every state change and every event goes through `Ledger.write` (wait for the commit) or
`Ledger.submit` (queued, the runtime's notification path). One writer task applies them in
arrival order, so `seq` is assigned in one place and published in seq order right after
each commit: an event is never seen by a subscriber before it is durable, and never out of
order.

Throughput comes from batching: while one transaction commits, later writes queue up and
the next transaction takes all of them at once (streaming deltas arrive in bursts). A
compare-and-set (and compaction) is applied on its own, so its conflict fails only its
caller; if a merged transaction fails, each of its writes is retried alone, so a bad write
fails only itself.

When the store refuses writes (`StoreUnavailable`: disk full, read-only, I/O error) the
ledger degrades instead of dropping anything silently:

- writes nobody waits for (the runtime's notifications) are held in memory, in order
  (`events.holding`), and retried with a backoff that runs on the manager's Clock;
- writes a caller waits for fail at once with `StoreUnavailable` (nothing was stored, the
  caller can say so: HTTP 507), after one immediate retry of the held writes if the last
  attempt is more than a second old (so freeing space lets the next request through);
- `storage` reports since when and why the store fails and how many events are held;
- past the hold's bound the oldest events are dropped and, once writes resume, a
  `ledger_events_lost` event per affected thread says how many and from when to when.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_manager_core.errors import StoreUnavailable
from codex_manager_core.events.bus import EventBus
from codex_manager_core.events.holding import HeldWrites, Job
from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports import Clock, Store, SystemClock
from codex_manager_core.ports.store import Batch, CompactDeltas, SetMeta, TransitionRequest

logger = logging.getLogger(__name__)

#: Most events and mutations one transaction takes when merging queued writes (bigger
#: transactions raise throughput a little and the latency of the first write in them more).
MAX_MERGED_EVENTS = 500
#: Queued writes before `submit` waits. This is back-pressure on the runtime reader (never
#: on subscribers) when the disk cannot keep up, and it bounds how long a burst waits for
#: the ledger: at ~20k events/s, 2048 queued writes are ~100 ms.
QUEUE_SIZE = 2048
#: Events held in memory while the store refuses writes (about 1-2 KB each).
MAX_HELD_EVENTS: Final = 20_000
#: A waiting write retries the held writes first if the last attempt is older than this.
MIN_RETRY_GAP: Final = 1.0
#: The meta key `ensure_writable` writes to find out whether the store takes writes again.
PROBE_KEY: Final = "ledger.write_probe"


@attrs.frozen
class RetryBackoff:
    """Seconds between attempts to write held events: `initial`, doubling up to `maximum`."""

    initial: float = 0.5
    maximum: float = 10.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** min(attempt, 30)))


@attrs.frozen
class StorageHealth:
    """Whether the store accepts writes, and what the ledger holds or lost meanwhile."""

    writable: bool
    failing_since: float | None = None
    """Wall-clock time (epoch seconds) of the first refused write of this episode."""
    reason: str | None = None
    location: str | None = None
    held_events: int = 0
    """Events from the runtime waiting in memory for the store."""
    lost_events: int = 0
    """Events dropped since start because the hold was full (each announced by a
    `ledger_events_lost` event once writes resumed)."""
    retries: int = 0
    """Attempts to write the held events in this episode."""


def _mergeable(job: Job) -> bool:
    """Whether a write may share a transaction with others. A compare-and-set must fail
    alone (its conflict is its caller's answer), and compaction is slow maintenance."""
    return not any(
        isinstance(mutation, TransitionRequest | CompactDeltas) for mutation in job.batch.mutations
    )


def _size(job: Job) -> int:
    return len(job.batch.events) + len(job.batch.mutations)


#: Put in the queue by the retry timer: "time to retry the held writes".
_RETRY: Final = Job(Batch(), wait=False)


@attrs.define
class LedgerStats:
    transactions: int = 0
    events: int = 0
    failed_writes: int = 0
    largest_batch: int = 0
    refused_writes: int = 0
    """Writes a caller waited for that failed because the store refused writes."""


@attrs.define
class _Failure:
    since: float
    location: str
    reason: str
    attempts: int = 0


class Ledger:
    """Serialises writes to the store and publishes their events to the bus."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        clock: Clock | None = None,
        max_held_events: int = MAX_HELD_EVENTS,
        backoff: RetryBackoff | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.stats = LedgerStats()
        self._clock = clock or SystemClock()
        self._backoff = backoff or RetryBackoff()
        self._held = HeldWrites(max(1, max_held_events))
        self._failure: _Failure | None = None
        self._last_attempt = -math.inf
        self._retry_scheduled = False
        self._tasks: anyio.abc.TaskGroup | None = None
        self._storage_changed: anyio.Event | None = None
        send, receive = anyio.create_memory_object_stream[Job](QUEUE_SIZE)
        self._send: MemoryObjectSendStream[Job] = send
        self._receive: MemoryObjectReceiveStream[Job] = receive
        self._running = False

    # ------------------------------------------------------------------ API

    async def write(self, batch: Batch) -> list[Event]:
        """Apply `batch` atomically; return its events with their seq once published.
        Raises what the store raised (StoreConflict, StoreUnavailable, ...); then nothing
        was written."""
        job = Job(batch, wait=True)
        try:
            # No yield before handing it over (as `submit`): the writes of the tasks that
            # run before the writer wakes join the same transaction (a job's end with the
            # next enqueue), instead of each waiting for a commit of its own.
            self._send.send_nowait(job)
        except anyio.WouldBlock:
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
        Order is kept with every other write. If the store refuses writes it is held and
        retried (see the module docstring); a bad write is logged."""
        if batch.mutations or batch.events:
            job = Job(batch, wait=False)
            try:
                # No yield to the event loop while there is room: the reader keeps going
                # and the writer then takes many writes in one transaction.
                self._send.send_nowait(job)
            except anyio.WouldBlock:
                await self._send.send(job)

    async def append(self, drafts: Sequence[EventDraft]) -> None:
        """Queue events (no state change) without waiting for the commit."""
        await self.submit(Batch(events=tuple(drafts)))

    @property
    def storage(self) -> StorageHealth:
        failure = self._failure
        return StorageHealth(
            writable=failure is None,
            failing_since=None if failure is None else failure.since,
            reason=None if failure is None else failure.reason,
            location=None if failure is None else failure.location,
            held_events=self._held.events,
            lost_events=self._held.lost_total,
            retries=0 if failure is None else failure.attempts,
        )

    async def wait_storage(self, predicate: Callable[[StorageHealth], bool]) -> StorageHealth:
        """Wait until `storage` satisfies `predicate` (e.g. to alert when it degrades);
        bound it with a timeout."""
        while not predicate(current := self.storage):
            if self._storage_changed is None:
                self._storage_changed = anyio.Event()
            await self._storage_changed.wait()
        return current

    async def ensure_writable(self) -> None:
        """Raise StoreUnavailable if the store refuses writes (after trying once more if
        the last attempt is a second old). For work that will produce events, e.g. a new
        turn: better refused now than held in memory and perhaps dropped."""
        if self._failure is not None:
            at = datetime.fromtimestamp(self._clock.now(), UTC).isoformat()
            await self.write(Batch((SetMeta(PROBE_KEY, at),)))

    async def close(self) -> None:
        """No more writes; the writer finishes what is queued, then `run` returns."""
        await self._send.aclose()

    def _storage_change(self) -> None:
        changed, self._storage_changed = self._storage_changed, None
        if changed is not None:
            changed.set()

    # ------------------------------------------------------------------ the writer

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The writer loop. Ends when `close()` was called and the queue is drained.

        Shielded from cancellation: it ends only through `close()` (which the manager
        always calls, also when its host cancels it), so writes queued by then are still
        applied (or held and tried once more), and a transaction that started is finished
        and published: the caller's write must not be half-reported."""
        self._running = True
        task_status.started()
        try:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as tasks:
                    self._tasks = tasks
                    await self._loop()
                    tasks.cancel_scope.cancel()
        finally:
            self._tasks = None
            self._running = False
            self._receive.close()

    async def _loop(self) -> None:
        receive = self._receive
        carry: Job | None = None
        while True:
            if carry is not None:
                first, carry = carry, None
            else:
                try:
                    first = await receive.receive()
                except anyio.EndOfStream:
                    await self._last_attempt_before_stop()
                    return
            if first is _RETRY:
                self._retry_scheduled = False
                if self._failure is not None:
                    await self._retry_held()
                continue
            if self._failure is not None:
                await self._take_while_failing(first)
                continue
            jobs = [first]
            if _mergeable(first):
                count = _size(first)
                while count < MAX_MERGED_EVENTS:
                    try:
                        job = receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    if job is _RETRY:  # stale: the store works again
                        self._retry_scheduled = False
                        continue
                    if not _mergeable(job):
                        carry = job
                        break
                    jobs.append(job)
                    count += _size(job)
            await self._apply(jobs)

    async def _apply(self, jobs: list[Job]) -> None:
        if len(jobs) == 1:
            await self._apply_one(jobs[0])
            return
        merged = Batch(
            tuple(mutation for job in jobs for mutation in job.batch.mutations),
            tuple(draft for job in jobs for draft in job.batch.events),
        )
        try:
            events = await self.store.apply(merged)
        except StoreUnavailable as exc:
            self._failed(exc)
            for job in jobs:
                self._refuse_or_hold(job)
            return
        except Exception:
            # Isolate the failure: retry each write alone so only the bad one fails.
            for job in jobs:
                if self._failure is not None:
                    self._refuse_or_hold(job)
                else:
                    await self._apply_one(job)
            return
        self._published(events)
        offset = 0
        for job in jobs:
            size = len(job.batch.events)
            job.finish(events[offset : offset + size], None)
            offset += size

    async def _apply_one(self, job: Job) -> None:
        try:
            events = await self.store.apply(job.batch)
        except StoreUnavailable as exc:
            self._failed(exc)
            self._refuse_or_hold(job)
            return
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
        if self._failure is not None and not self._held:
            self._recovered()

    # ------------------------------------------------------------------ degraded mode

    def _failed(self, exc: StoreUnavailable) -> None:
        """The store refused a write: enter (or stay in) degraded mode."""
        self._last_attempt = self._clock.monotonic()
        if self._failure is None:
            self._failure = _Failure(self._clock.now(), exc.location, exc.reason)
            logger.error(
                "the store refuses writes (%s: %s): holding the runtime's events in memory "
                "(up to %d) and retrying; writes that callers wait for fail until then",
                exc.location,
                exc.reason,
                self._held.limit,
            )
        else:
            self._failure.reason = exc.reason
            self._failure.location = exc.location
        self._schedule_retry()
        self._storage_change()

    def _refuse_or_hold(self, job: Job) -> None:
        if job.done is not None:
            self.stats.refused_writes += 1
            job.finish(None, self._refusal())
        else:
            self._held.hold(job)
            self._schedule_retry()
            self._storage_change()

    def _refusal(self) -> StoreUnavailable:
        failure = self._failure
        assert failure is not None
        return StoreUnavailable(
            failure.location,
            failure.reason,
            since=failure.since,
            held_events=self._held.events,
        )

    async def _take_while_failing(self, job: Job) -> None:
        """A new write while the store refuses writes. A caller who waits is worth one
        early attempt (it may be the user retrying after freeing space)."""
        due = self._clock.monotonic() - self._last_attempt >= MIN_RETRY_GAP
        if job.done is not None and due and await self._retry_held():
            await self._apply([job])  # a success ends degraded mode (`_published`)
            return
        self._refuse_or_hold(job)

    def _schedule_retry(self) -> None:
        if self._retry_scheduled or self._tasks is None or not self._held:
            return
        self._retry_scheduled = True
        attempts = self._failure.attempts if self._failure is not None else 0
        self._tasks.start_soon(self._retry_after, self._backoff.delay(attempts))

    async def _retry_after(self, delay: float) -> None:
        await self._clock.sleep(delay)
        # Closing: the writer makes its last attempt on its own.
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(_RETRY)

    async def _retry_held(self) -> bool:
        """Write the lost-events markers, then the held writes, oldest first. True when
        nothing is held any more (degraded mode then ends with the last of them; with
        nothing held it lasts until some write succeeds)."""
        held = self._held
        if not held:
            return True
        failure = self._failure
        if failure is not None:
            failure.attempts += 1
        self._last_attempt = self._clock.monotonic()
        try:
            if held.gaps or held.kept_mutations:
                at = datetime.fromtimestamp(self._clock.now(), UTC)
                reason = failure.reason if failure is not None else "the store refused writes"
                events = await self.store.apply(held.markers(at, reason))
                held.markers_written()
                self._published(events)
            while held.jobs:
                jobs = held.take(MAX_MERGED_EVENTS)
                merged = Batch(
                    tuple(mutation for job in jobs for mutation in job.batch.mutations),
                    tuple(draft for job in jobs for draft in job.batch.events),
                )
                try:
                    events = await self.store.apply(merged)
                except StoreUnavailable:
                    raise
                except Exception:
                    await self._isolate_bad_held(jobs)
                    continue
                held.written(jobs)
                self._published(events)
                self._storage_change()
        except StoreUnavailable as exc:
            self._failed(exc)
            return False
        if self._failure is not None:
            self._recovered()
        return True

    def _recovered(self) -> None:
        failure, self._failure = self._failure, None
        self._storage_change()
        if failure is not None:
            logger.warning(
                "the store accepts writes again after %.1f s (%d attempt(s)); the held "
                "events are written",
                self._clock.now() - failure.since,
                failure.attempts,
            )

    async def _isolate_bad_held(self, jobs: list[Job]) -> None:
        """A merged write of held jobs failed for another reason than the store: write
        them one by one; a bad one is logged and dropped (as it would have been without
        the hold). Raises StoreUnavailable if the store refuses again."""
        for job in jobs:
            try:
                events = await self.store.apply(job.batch)
            except StoreUnavailable:
                raise
            except Exception as exc:
                self.stats.failed_writes += 1
                logger.error(
                    "could not write %d held event(s) to the ledger: %r",
                    len(job.batch.events),
                    exc,
                )
                events = []
            self._held.written([job])
            if events:
                self._published(events)

    async def _last_attempt_before_stop(self) -> None:
        if not self._held and self._failure is None:
            return
        await self._retry_held()
        if self._held:
            lost = self._held.events + self._held.lost_unannounced()
            logger.error(
                "stopping while the store still refuses writes (%s): %d event(s) from the "
                "runtime could not be stored and are lost",
                self._failure.reason if self._failure is not None else "unknown reason",
                lost,
            )

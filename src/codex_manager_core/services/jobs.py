"""`manager.jobs`: the job queue as users see it. Register job types, enqueue jobs (payload
validation, dedupe, capacity), read, count, cancel and wait for them.

In `services/`, not `queue/`, because it is a service like the others: built over the
`ServiceContext` (writes through the ledger, the bus, the clock) and composed in
`Manager._compose`; `queue/` keeps the pure pieces (the record, the scheduler, the job
types and policies) that need no context. The runner that executes the jobs is
`job_runner.py`; the writes both share are `job_events.py`.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal

import anyio
import attrs

from codex_manager_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    QueueFull,
    StoreConflict,
    TimedOut,
)
from codex_manager_core.events.bus import EventFilter
from codex_manager_core.models import Event, Lagged
from codex_manager_core.ports.store import JobQuery, Page, PatchJob, PutJob
from codex_manager_core.queue.definitions import JobHandler, JobHooks, JobType, JobTypes
from codex_manager_core.queue.model import Job, JobPriority, JobState, evolve_job
from codex_manager_core.queue.policies import (
    CancelPolicy,
    DedupeAction,
    DedupeMode,
    DedupePolicy,
    RetryPolicy,
    dedupe_decision,
)
from codex_manager_core.queue.scheduler import capacity_problem
from codex_manager_core.services import job_events
from codex_manager_core.services.context import ServiceContext, check_id
from codex_manager_core.services.job_context import Interrupter
from codex_manager_core.services.job_runner import JobRunner, call_hook

MAX_JOB_PAGE: Final = 1000
_LIVE: Final = (JobState.QUEUED, JobState.RUNNING)
_ATTEMPTS: Final = 5
"""Tries of a compare-and-set that lost to the runner (a job started meanwhile)."""

Outcome = Literal["enqueued", "joined", "dropped", "merged"]


@attrs.frozen
class Enqueued:
    job: Job
    """The new job as written (queued, or already running when nothing waited and a slot
    was free), or the existing one that stands for it (joined, dropped, merged)."""
    outcome: Outcome


_NO_DEDUPE = DedupePolicy()
_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_CANCEL = CancelPolicy()


class JobsService:
    def __init__(
        self, ctx: ServiceContext, manager: Any, interrupter: Interrupter | None = None
    ) -> None:
        self._ctx = ctx
        # Jobs of a type registered now may be waiting (recovery): the runner looks again.
        self._types = JobTypes(on_register=lambda _: self.runner.wake())
        self.runner = JobRunner(ctx, self._types, manager, interrupter)
        # Dedupe and capacity are read-then-write: one enqueue at a time in this process
        # (one process per data directory: DataDirLock).
        # Uncontended (the common case), taking it does not yield: an enqueue yields once,
        # waiting for its commit.
        self._enqueue_lock = anyio.Lock(fast_acquire=True)

    # ------------------------------------------------------------------ job types

    def register(self, job_type: JobType[Any, Any], *, replace: bool = False) -> JobType[Any, Any]:
        """Register a job type (Conflict `job_type_exists` if its name is taken, unless
        `replace`: then it takes the place of the registered one, a built-in included)."""
        return self._types.register(job_type, replace=replace)

    def job_type(
        self,
        type: str,
        *,
        payload: builtins.type[Any],
        result: builtins.type[Any],
        version: int = 1,
        priority: JobPriority | str = JobPriority.BACKGROUND,
        dedupe: DedupePolicy = _NO_DEDUPE,
        retry: RetryPolicy = _DEFAULT_RETRY,
        timeout: float = 60.0,
        cancel: CancelPolicy = _DEFAULT_CANCEL,
        stall_timeout: float | None = None,
        hooks: JobHooks | None = None,
    ) -> Callable[[JobHandler], JobType[Any, Any]]:
        """Decorator: `async def run(ctx: JobContext, payload) -> result` as a job type."""

        return self._types.job_type(
            type,
            payload=payload,
            result=result,
            version=version,
            priority=priority,
            dedupe=dedupe,
            retry=retry,
            timeout=timeout,
            cancel=cancel,
            stall_timeout=stall_timeout,
            hooks=hooks or JobHooks(),
        )

    # ------------------------------------------------------------------ enqueue

    async def enqueue(
        self,
        type: str,
        payload: Any,
        *,
        owner: str,
        source_session_id: str | None = None,
        priority: JobPriority | str | None = None,
    ) -> Enqueued:
        """Add a job (or, by the type's dedupe policy, join, drop into or merge with a live
        one). InvalidInput names a payload field that does not fit; QueueFull at capacity."""
        job_type = self._types.get(type)
        check_id(owner, "owner")
        if source_session_id is not None:
            check_id(source_session_id, "source_session_id")
        chosen = _priority(priority, job_type)
        parsed = (
            payload if isinstance(payload, job_type.payload) else job_type.parse_payload(payload)
        )
        key = job_type.dedupe_key(parsed)
        async with self._enqueue_lock:
            for _ in range(_ATTEMPTS):
                try:
                    outcome = await self._enqueue(
                        job_type, parsed, key, owner, source_session_id, chosen
                    )
                except StoreConflict:
                    continue  # the job we merged into started meanwhile: decide again
                self.runner.enqueued()
                break
            else:
                raise Conflict(f"could not enqueue a {type!r} job: its duplicate kept changing")
        return outcome

    async def _enqueue(
        self,
        job_type: JobType[Any, Any],
        parsed: Any,
        key: str | None,
        owner: str,
        source_session_id: str | None,
        priority: JobPriority,
    ) -> Enqueued:
        ctx = self._ctx
        mode = job_type.dedupe.mode
        if key is not None and mode is not DedupeMode.NONE:
            live = self.runner.index.duplicates(job_type.type, key)
            decision = dedupe_decision(live, mode)
            existing = decision.existing
            if decision.action is DedupeAction.JOIN and existing is not None:
                return Enqueued(existing, "joined")
            if decision.action is DedupeAction.DROP and existing is not None:
                return Enqueued(existing, "dropped")
            if decision.action is DedupeAction.MERGE and existing is not None:
                merge = job_type.dedupe.merge
                assert merge is not None  # DedupePolicy requires it with merge_duplicate
                merged = job_type.dump_payload(
                    merge(job_type.parse_payload(existing.payload), parsed)
                )
                # queued -> queued: a compare-and-set, so a job that started meanwhile keeps
                # the payload it runs with (StoreConflict: decide again).
                after = await job_events.transition(
                    ctx,
                    self.runner.index,
                    existing,
                    (JobState.QUEUED,),
                    JobState.QUEUED,
                    {"payload": merged},
                    merged=True,
                )
                return Enqueued(after, "merged")
        index = self.runner.index
        problem = capacity_problem(index.live_count(owner), index.live_count(), self.runner.limits)
        if problem is not None:
            raise QueueFull(problem)
        now = ctx.now()  # one time for the record and its events
        job = Job(
            job_id=f"job_{_uuid4_hex()}",
            type=job_type.type,
            version=job_type.version,
            owner=owner,
            priority=priority,
            state=JobState.QUEUED,
            payload=job_type.dump_payload(parsed),
            created_at=now,
            source_session_id=source_session_id,
            dedupe_key=key,
            max_attempts=job_type.retry.max_attempts,
        )
        queued = job_events.job_event(ctx, job_events.QUEUED, job, at=now)
        runner = self.runner
        on_queued = job_type.hooks.on_queued
        if job_type.run is not None and runner.can_start_at_enqueue(owner):
            # Nothing waits and a slot is free: queued and started in one write.
            running = evolve_job(
                job, state=JobState.RUNNING, attempts=1, started_at=now, last_attempt_at=now
            )
            started = job_events.job_event(ctx, job_events.STARTED, running, at=now)
            await job_events.write(ctx, index, [PutJob(running)], [queued, started])
            # Told before the attempt can begin, so the hooks come in order.
            if on_queued is not None:
                await call_hook(on_queued, job)
            runner.begin(running, job_type, parsed)
            return Enqueued(running, "enqueued")
        await job_events.write(ctx, index, [PutJob(job)], [queued])
        if on_queued is not None:
            await call_hook(on_queued, job)
        return Enqueued(job, "enqueued")

    # ------------------------------------------------------------------ reads

    async def get(self, job_id: str) -> Job:
        check_id(job_id, "job_id")
        job = await self._ctx.store.get_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}", code="job_not_found")
        return job

    async def list(
        self,
        *,
        states: Iterable[JobState | str] | None = None,
        types: Iterable[str] | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Jobs, newest first, a page at a time (`Page.next_cursor` to `cursor`)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_JOB_PAGE:
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_JOB_PAGE}",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        query = JobQuery(
            states=None if states is None else tuple(_state(s) for s in _many(states, "states")),
            types=None if types is None else tuple(_many(types, "types")),
            owner=None if owner is None else check_id(owner, "owner"),
            cursor=cursor,
            limit=limit,
        )
        try:
            return await self._ctx.store.list_jobs(query)
        except ValueError as exc:
            raise InvalidInput(
                f"invalid cursor: {exc}", issues=[{"path": ["cursor"], "message": "invalid"}]
            ) from exc

    async def counts(self, owner: str | None = None) -> dict[JobState, int]:
        """Jobs per state (every state, 0 included), of one owner or of all."""
        return await self._ctx.store.count_jobs(None if owner is None else check_id(owner, "owner"))

    # ------------------------------------------------------------------ cancel and wait

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once; a running one has its attempt cancelled and
        ends `canceled` (Conflict `already_terminal` for a job that has ended)."""
        for _ in range(_ATTEMPTS):
            job = await self.get(job_id)
            now = self._ctx.now()
            if job.state.terminal:
                raise Conflict(
                    f"job {job_id} is already {job.state.value}; only a queued or running "
                    "job can be canceled",
                    code="already_terminal",
                )
            if job.state is JobState.QUEUED:
                changes = {"error": "canceled", "cancel_requested_at": now, "completed_at": now}
                try:
                    after = await job_events.end(
                        self._ctx,
                        self.runner.index,
                        self.runner.retention,
                        job,
                        (JobState.QUEUED,),
                        JobState.CANCELED,
                        changes,
                    )
                except StoreConflict:
                    continue  # it started meanwhile: cancel it running
                self.runner.wake()
                await self._canceled(after)
                return after
            return await self._cancel_running(job)
        raise Conflict(f"job {job_id} kept changing state; cancel it again")

    async def _cancel_running(self, job: Job) -> Job:
        try:
            await job_events.write(
                self._ctx,
                self.runner.index,
                [PatchJob(job.job_id, {"cancel_requested_at": self._ctx.now()})],
            )
        except StoreConflict:
            return await self.get(job.job_id)
        if not self.runner.cancel(job.job_id):
            # Running in the store but not here (the runner has not recovered it yet).
            try:
                after = await job_events.end(
                    self._ctx,
                    self.runner.index,
                    self.runner.retention,
                    job,
                    (JobState.RUNNING,),
                    JobState.CANCELED,
                    {"error": "canceled", "completed_at": self._ctx.now()},
                )
            except StoreConflict:
                return await self.get(job.job_id)
            await self._canceled(after)
            return after
        graceful = self._types.get(job.type).cancel.graceful_wait if job.type in self._types else 0
        try:
            # The runner's graceful wait (interrupt_turn) and then the forced end.
            return await self.wait(job.job_id, timeout=graceful + 1.0)
        except TimedOut:
            return await self.get(job.job_id)

    async def _canceled(self, job: Job) -> None:
        if job.type in self._types:
            await call_hook(self._types.get(job.type).hooks.on_canceled, job)

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """The job once it has ended (at once if it has); TimedOut after `timeout` seconds
        (of the Manager's clock). Driven by the job's events, never by polling."""
        index = self.runner.index
        ended = index.ended(check_id(job_id, "job_id"))
        if ended is not None:
            return ended  # its end is committed: no read, no subscription
        event_filter = EventFilter.of(None, [job_events.PREFIX])
        # Subscribed before reading: an end between the read and the first event is seen.
        subscription = self._ctx.bus.subscribe(event_filter)
        try:
            with self._ctx.clock.move_on_after(timeout):
                # The store, not the index: the index follows a write only after its commit
                # (and its event) is done, so it could still call an ended job running.
                job = await self.get(job_id)
                while not job.state.terminal:
                    item = await subscription.next()
                    if isinstance(item, Lagged):
                        subscription.close()
                        subscription = self._ctx.bus.subscribe(event_filter, since=item.seq)
                        continue
                    # Only an end is worth a read (a start, a retry, progress are not).
                    if job_events.job_of_event(item) == job_id and _ends(item):
                        job = index.ended(job_id) or await self.get(job_id)
                return job
        finally:
            subscription.close()
        raise TimedOut(
            f"job {job_id} did not end within {timeout:g} s; it may still be queued or "
            "running (wait again, or cancel it)"
        )


def _ends(event: Event) -> bool:
    """Whether a job event announces a terminal state."""
    payload = event.payload
    state = payload.get("state") if isinstance(payload, Mapping) else None
    return state not in (JobState.QUEUED.value, JobState.RUNNING.value)


def _uuid4_hex() -> str:
    """`uuid.uuid4().hex` (the same random version 4 UUID), without building the UUID
    object: on every enqueue's path."""
    value = int.from_bytes(os.urandom(16))
    return f"{(value & _UUID4_CLEAR) | _UUID4_SET:032x}"


# uuid.UUID(version=4): the variant (RFC 4122) and the version bits.
_UUID4_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET: Final = (0x8000 << 48) | (4 << 76)


def _priority(value: JobPriority | str | None, job_type: JobType[Any, Any]) -> JobPriority:
    if value is None:
        return job_type.priority
    try:
        return JobPriority(value)
    except ValueError:
        raise InvalidInput(
            f"priority must be one of {[p.value for p in JobPriority]}, got {value!r}",
            issues=[{"path": ["priority"], "message": "invalid"}],
        ) from None


def _state(value: JobState | str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise InvalidInput(
            f"state must be one of {[s.value for s in JobState]}, got {value!r}",
            issues=[{"path": ["states"], "message": "invalid"}],
        ) from None


def _many(values: Iterable[Any], what: str) -> builtins.list[Any]:
    """A list: a lone string would otherwise be taken letter by letter."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(
            f"{what} must be a list, got {values!r}",
            issues=[{"path": [what], "message": "not a list"}],
        )
    return builtins.list(values)


__all__ = ["Enqueued", "JobsService"]

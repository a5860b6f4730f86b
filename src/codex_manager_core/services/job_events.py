"""The queue's writes: each change of a job as its store mutation and its
`orchestrator_job_*` event, written in one transaction (so the ledger and the queue never
disagree), and the retention of terminal jobs.

Shared by the service (`jobs.py`: enqueue, cancel) and the runner (`job_runner.py`: start,
finish, retry, recovery), so both describe a job in events the same way: the original's
payload `{jobId, projectId, jobType, state, sourceSessionId?, result?, error?,
progress?}`, about the thread of the session that asked (`sourceSessionId`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports.store import Batch, DeleteJobs, JobQuery, TransitionJob
from codex_manager_core.ports.store.jobs import JobMutation
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobState, evolve_job
from codex_manager_core.services.context import ServiceContext

QUEUED: Final = "orchestrator_job_queued"
STARTED: Final = "orchestrator_job_started"
PROGRESS: Final = "orchestrator_job_progress"
COMPLETED: Final = "orchestrator_job_completed"
FAILED: Final = "orchestrator_job_failed"
CANCELED: Final = "orchestrator_job_canceled"
PREFIX: Final = "orchestrator_job_"

TERMINAL: Final = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELED)
_EVENT_OF_STATE: Final = {
    JobState.QUEUED: QUEUED,
    JobState.RUNNING: STARTED,
    JobState.COMPLETED: COMPLETED,
    JobState.FAILED: FAILED,
    JobState.CANCELED: CANCELED,
}


def job_event(
    ctx: ServiceContext, type_: str, job: Job, *, at: datetime | None = None, **extra: Any
) -> EventDraft:
    """The event of `job` as it is now (after the change the event announces); `at`: its
    time (default: now; a write's events share one)."""
    payload: dict[str, Any] = {
        "jobId": job.job_id,
        "projectId": job.owner,
        "jobType": job.type,
        "state": job.state.value,
    }
    if job.source_session_id is not None:
        payload["sourceSessionId"] = job.source_session_id
    if job.result is not None:
        payload["result"] = job.result
    if job.error is not None:
        payload["error"] = job.error
    if job.progress is not None:
        payload["progress"] = job.progress
    if extra:
        payload.update(extra)
    if at is None:
        return ctx.event(type_, job.source_session_id, payload)
    return EventDraft(type_, job.source_session_id, payload, at)


def job_of_event(event: Event) -> str | None:
    """The job id an `orchestrator_job_*` event is about."""
    payload = event.payload
    if isinstance(payload, Mapping) and isinstance(payload.get("jobId"), str):
        return str(payload["jobId"])
    return None


async def write(
    ctx: ServiceContext,
    index: QueueIndex,
    mutations: Sequence[JobMutation],
    events: Sequence[EventDraft] = (),
    records: Sequence[tuple[Job, Job]] = (),
) -> None:
    """Write job mutations (and their events) in one transaction, then follow them in the
    in-memory index. Every job write goes through here, so the index stays exact; the
    ledger resolves writes in commit order, so the index follows the store's order.
    `records`: (before, after) of the transitions, for the index (`QueueIndex.apply`)."""
    # The ledger itself (`ctx.write` without its coroutine: on every job's path).
    await ctx.ledger.write(Batch(tuple(mutations), tuple(events)))
    # Before `apply`: an ended job is still in the index, with the created_at its latency
    # starts from.
    index.stats.observe(events, index.get, ctx.now())
    index.apply(mutations, records)


async def transition(
    ctx: ServiceContext,
    index: QueueIndex,
    job: Job,
    from_states: tuple[JobState, ...],
    to_state: JobState,
    changes: Mapping[str, Any],
    *,
    also: Sequence[JobMutation] = (),
    also_events: Sequence[EventDraft] = (),
    also_records: Sequence[tuple[Job, Job]] = (),
    at: datetime | None = None,
    **extra: Any,
) -> Job:
    """Move `job` to `to_state` with `changes`, and its event, in one write (with `also`
    and `also_events`, e.g. retention's deletions, the next job's start). StoreConflict
    (nothing written) when the job is no longer in one of `from_states`. `at`: the
    event's time (default: now)."""
    after = evolve_job(job, state=to_state, **changes)
    await write(
        ctx,
        index,
        [TransitionJob(job.job_id, from_states, to_state, dict(changes)), *also],
        [job_event(ctx, _EVENT_OF_STATE[to_state], after, at=at, **extra), *also_events],
        [(job, after), *also_records],
    )
    return after


async def end(
    ctx: ServiceContext,
    index: QueueIndex,
    retention: Retention,
    job: Job,
    from_states: tuple[JobState, ...],
    to_state: JobState,
    changes: Mapping[str, Any],
    *,
    also: Sequence[JobMutation] = (),
    also_events: Sequence[EventDraft] = (),
    also_records: Sequence[tuple[Job, Job]] = (),
    at: datetime | None = None,
) -> Job:
    """`transition` to a terminal state, with retention's deletions in the same write (and
    `also`, `also_events`: the start of the job that takes the slot). `at`: the event's
    time (default: now)."""
    doomed = retention.known_doomed(ctx, job)
    if doomed is None:  # the owner's ended jobs are not known yet: read them once
        doomed = await retention.doomed(ctx, job)
    if doomed:
        also = (*also, DeleteJobs(doomed))
    after = await transition(
        ctx,
        index,
        job,
        from_states,
        to_state,
        changes,
        also=also,
        also_events=also_events,
        also_records=also_records,
        at=at,
    )
    retention.ended(job, doomed)
    return after


@attrs.define
class Starts:
    """The starts of queued jobs written in one write (with other changes: a job's end):
    their mutations, events and (before, after) records (`write`'s `records`)."""

    mutations: list[JobMutation] = attrs.Factory(list)
    events: list[EventDraft] = attrs.Factory(list)
    records: list[tuple[Job, Job]] = attrs.Factory(list)

    def add(self, ctx: ServiceContext, job: Job, now: datetime) -> Job:
        """Start the queued `job` now (its attempt counted); the job as started."""
        changes: dict[str, Any] = {
            "attempts": job.attempts + 1,
            "started_at": now,
            "last_attempt_at": now,
            "next_attempt_at": None,
        }
        after = evolve_job(job, state=JobState.RUNNING, **changes)
        self.mutations.append(
            TransitionJob(job.job_id, (JobState.QUEUED,), JobState.RUNNING, changes)
        )
        self.events.append(job_event(ctx, STARTED, after, at=now))
        self.records.append((job, after))
        return after


class Retention:
    """Keeps each owner's newest `queue_retained_per_owner` terminal jobs.

    Each owner's terminal jobs are known in memory, oldest first (read from the store once,
    at the owner's first end in this process, then followed), so a job's end deletes the
    jobs it pushes out of the limit in its own write: no read, no second write. Use:
    `doomed = await retention.doomed(...)`, the end written with `DeleteJobs(doomed)`,
    then `retention.ended(...)` once it committed."""

    def __init__(self) -> None:
        self._terminal: dict[str, list[tuple[datetime, str]]] = {}
        """owner -> its terminal jobs' (created_at, job_id), oldest first."""

    async def doomed(self, ctx: ServiceContext, job: Job) -> tuple[str, ...]:
        """The jobs to delete in the write that ends `job` (its owner's oldest beyond the
        limit, once it has ended)."""
        if job.owner not in self._terminal:
            self._terminal[job.owner] = await _terminal_of(ctx, job.owner)
        doomed = self.known_doomed(ctx, job)
        assert doomed is not None
        return doomed

    def known_doomed(self, ctx: ServiceContext, job: Job) -> tuple[str, ...] | None:
        """`doomed` without an await once the owner's ended jobs are known (None: not
        yet, call `doomed`)."""
        known = self._terminal.get(job.owner)
        if known is None:
            return None
        keep = max(0, ctx.config.queue_retained_per_owner)
        if len(known) < keep:
            return ()  # room for this one: the common case costs nothing
        # The oldest beyond `keep` once `job` is among them: known is sorted, so no sort
        # (at the limit, every end of the owner's pays this).
        entry = (job.created_at, job.job_id)
        at = bisect.bisect_left(known, entry)
        if at < len(known) and known[at] == entry:
            excess = len(known) - keep
            oldest = known[:excess]
        else:
            excess = len(known) + 1 - keep
            oldest = known[:excess] if at >= excess else [*known[:at], entry, *known[at:]][:excess]
        return tuple(job_id for _, job_id in oldest)

    def ended(self, job: Job, doomed: tuple[str, ...]) -> None:
        """`job`'s end and the deletion of `doomed` committed."""
        known = self._terminal.get(job.owner)
        if known is None:
            return  # the owner was never loaded: it is read at its next end
        entry = (job.created_at, job.job_id)
        if doomed:
            count = len(doomed)
            if tuple(job_id for _, job_id in known[:count]) == doomed:
                del known[:count]  # the usual case: the owner's oldest
            else:
                gone = set(doomed)
                known[:] = [item for item in known if item[1] not in gone]
        if job.job_id not in doomed:
            at = bisect.bisect_left(known, entry)
            if at == len(known) or known[at] != entry:
                known.insert(at, entry)


async def _terminal_of(ctx: ServiceContext, owner: str) -> list[tuple[datetime, str]]:
    """The owner's terminal jobs in the store, oldest first."""
    found: list[tuple[datetime, str]] = []
    cursor = None
    while True:
        page = await ctx.store.list_jobs(
            JobQuery(states=TERMINAL, owner=owner, cursor=cursor, limit=500)
        )
        found += [(job.created_at, job.job_id) for job in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return sorted(found)


__all__ = [
    "CANCELED",
    "COMPLETED",
    "FAILED",
    "PREFIX",
    "PROGRESS",
    "QUEUED",
    "STARTED",
    "TERMINAL",
    "Retention",
    "Starts",
    "end",
    "job_event",
    "job_of_event",
    "transition",
    "write",
]

"""The queue's writes: each change of a job as its store mutation and its
`orchestrator_job_*` event, written in one transaction (so the ledger and the queue never
disagree), and the retention of terminal jobs.

Shared by the service (`jobs.py`: enqueue, cancel) and the runner (`job_runner.py`: start,
finish, retry, recovery), so both describe a job in events the same way: the original's
payload `{jobId, projectId, jobType, state, sourceSessionId?, result?, error?,
progress?}`, about the thread of the session that asked (`sourceSessionId`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports.store import DeleteJobs, JobQuery, TransitionJob
from codex_manager_core.ports.store.jobs import JobMutation
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobState
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


def job_event(ctx: ServiceContext, type_: str, job: Job, **extra: Any) -> EventDraft:
    """The event of `job` as it is now (after the change the event announces)."""
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
    payload.update(extra)
    return ctx.event(type_, job.source_session_id, payload)


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
) -> None:
    """Write job mutations (and their events) in one transaction, then follow them in the
    in-memory index. Every job write goes through here, so the index stays exact; the
    ledger resolves writes in commit order, so the index follows the store's order."""
    await ctx.write(mutations, events)
    # Before `apply`: an ended job is still in the index, with the created_at its latency
    # starts from.
    index.stats.observe(events, index.get, ctx.now())
    index.apply(mutations)


async def transition(
    ctx: ServiceContext,
    index: QueueIndex,
    job: Job,
    from_states: tuple[JobState, ...],
    to_state: JobState,
    changes: Mapping[str, Any],
    **extra: Any,
) -> Job:
    """Move `job` to `to_state` with `changes`, and its event, in one write. StoreConflict
    (nothing written) when the job is no longer in one of `from_states`."""
    after = attrs.evolve(job, state=to_state, **changes)
    await write(
        ctx,
        index,
        [TransitionJob(job.job_id, from_states, to_state, dict(changes))],
        [job_event(ctx, _EVENT_OF_STATE[to_state], after, **extra)],
    )
    return after


class Retention:
    """Keeps each owner's newest `queue_retained_per_owner` terminal jobs.

    Listing an owner's terminal jobs after every end read and decoded up to `keep + 1`
    jobs each time; instead, each owner's terminal count is known (counted once in the
    store, then followed), and the store is read only when the count is over the limit."""

    def __init__(self) -> None:
        self._terminal: dict[str, int] = {}

    async def ended(self, ctx: ServiceContext, index: QueueIndex, owner: str) -> None:
        """A job of `owner` has just ended (its write committed): trim if over the limit."""
        keep = max(0, ctx.config.queue_retained_per_owner)
        count = self._terminal.get(owner)
        if count is None:
            counts = await ctx.store.count_jobs(owner)
            count = sum(counts[state] for state in TERMINAL)
        else:
            count += 1
        if count > keep:
            await retain(ctx, index, owner)
            count = keep
        self._terminal[owner] = count


async def retain(ctx: ServiceContext, index: QueueIndex, owner: str) -> None:
    """Keep the owner's newest `queue_retained_per_owner` terminal jobs; delete the rest
    (oldest `created_at` first)."""
    keep = ctx.config.queue_retained_per_owner
    kept = await ctx.store.list_jobs(JobQuery(states=TERMINAL, owner=owner, limit=max(1, keep)))
    if keep < 1:
        doomed = [job.job_id for job in kept.items]
    elif kept.next_cursor is None:
        return
    else:
        doomed = []
    cursor = kept.next_cursor
    while cursor is not None:
        older = await ctx.store.list_jobs(
            JobQuery(states=TERMINAL, owner=owner, cursor=cursor, limit=500)
        )
        doomed += [job.job_id for job in older.items]
        cursor = older.next_cursor
    if doomed:
        await write(ctx, index, [DeleteJobs(tuple(doomed))])


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
    "job_event",
    "job_of_event",
    "retain",
    "transition",
    "write",
]

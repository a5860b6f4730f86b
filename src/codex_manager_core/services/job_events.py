"""The queue's writes: each change of a job as its store mutation and its
`orchestrator_job_*` event, written in one transaction (so the ledger and the queue never
disagree), and the retention of terminal jobs.

Shared by the service (`jobs.py`: enqueue, cancel) and the runner (`job_runner.py`: start,
finish, retry, recovery), so both describe a job in events the same way: the original's
payload `{jobId, projectId, jobType, state, sourceSessionId?, result?, error?,
progress?}`, about the thread of the session that asked (`sourceSessionId`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from codex_manager_core.models import Event, EventDraft
from codex_manager_core.ports.store import DeleteJobs, JobQuery, TransitionJob
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


async def transition(
    ctx: ServiceContext,
    job: Job,
    from_states: tuple[JobState, ...],
    to_state: JobState,
    changes: Mapping[str, Any],
    **extra: Any,
) -> Job:
    """Move `job` to `to_state` with `changes`, and its event, in one write. StoreConflict
    (nothing written) when the job is no longer in one of `from_states`."""
    after = attrs.evolve(job, state=to_state, **changes)
    await ctx.write(
        [TransitionJob(job.job_id, from_states, to_state, dict(changes))],
        [job_event(ctx, _EVENT_OF_STATE[to_state], after, **extra)],
    )
    return after


async def retain(ctx: ServiceContext, owner: str) -> None:
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
        await ctx.write([DeleteJobs(tuple(doomed))])


__all__ = [
    "CANCELED",
    "COMPLETED",
    "FAILED",
    "PREFIX",
    "PROGRESS",
    "QUEUED",
    "STARTED",
    "TERMINAL",
    "job_event",
    "job_of_event",
    "retain",
    "transition",
]

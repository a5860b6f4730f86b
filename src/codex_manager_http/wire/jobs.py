"""Job queue shapes: the original's job record (`GET /api/orchestrator/jobs/{jobId}` and the
per-project list) plus ours (`progress`, `steps`), and the page of the global list."""

from typing import Any, NotRequired, TypedDict

from codex_manager_core.queue.model import Job
from codex_manager_core.serde import iso, to_json
from codex_manager_http.wire.common import record_of


class RunningContext(TypedDict):
    threadId: str | None
    turnId: str | None


class JobRecord(TypedDict):
    id: str
    type: str
    version: int
    projectId: str
    """The owner: a project id, or `session:<id>` for a chat outside any project."""
    sourceSessionId: str | None
    priority: str
    """`interactive` or `background`."""
    state: str
    """`queued`, `running`, `completed`, `failed` or `canceled`."""
    dedupeKey: str | None
    payload: dict[str, Any]
    result: Any
    error: str | None
    attempts: int
    maxAttempts: int
    createdAt: str
    startedAt: str | None
    completedAt: str | None
    cancelRequestedAt: str | None
    nextAttemptAt: str | None
    lastAttemptAt: str | None
    runningContext: RunningContext
    progress: Any
    """Ours: the latest progress the job reported (its shape is the job type's)."""
    steps: NotRequired[Any]
    """Ours: the job's steps, where its type records them."""
    record: dict[str, Any]
    """Ours: the Job exactly (times in microseconds), without the keys shown above whole
    (payload, result, progress, steps)."""


class JobBody(TypedDict):
    """`{status: "ok", job}` (read, cancel)."""

    status: str
    job: JobRecord


class ProjectJobs(TypedDict):
    """The original's per-project list: `{data}`, oldest first."""

    data: list[JobRecord]


class JobPage(TypedDict):
    """Ours: a page of the global list, newest first; `nextCursor` to the next page (null:
    the last one)."""

    status: str
    data: list[JobRecord]
    nextCursor: str | None


class AlreadyTerminal(TypedDict):
    """409: the job has ended (the original's `{status: "already_terminal", job}`)."""

    status: str
    code: str
    message: str
    job: JobRecord


JOB_SHOWN = ("payload", "result", "progress", "steps")


def job_record(job: Job) -> JobRecord:
    context = job.running_context
    record: JobRecord = {
        "id": job.job_id,
        "type": job.type,
        "version": job.version,
        "projectId": job.owner,
        "sourceSessionId": job.source_session_id,
        "priority": job.priority.value,
        "state": job.state.value,
        "dedupeKey": job.dedupe_key,
        "payload": dict(job.payload),
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "createdAt": iso(job.created_at) or "",
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "cancelRequestedAt": iso(job.cancel_requested_at),
        "nextAttemptAt": iso(job.next_attempt_at),
        "lastAttemptAt": iso(job.last_attempt_at),
        "runningContext": {
            "threadId": None if context is None else context.thread_id,
            "turnId": None if context is None else context.turn_id,
        },
        "progress": job.progress,
        "record": record_of(job, shown=JOB_SHOWN),
    }
    # `Job.steps` arrives with worker jobs (another change); either order of merging works.
    if hasattr(job, "steps"):
        record["steps"] = to_json(getattr(job, "steps", None))
    return record


def job_body(job: Job) -> JobBody:
    return {"status": "ok", "job": job_record(job)}


def project_jobs(jobs: list[Job]) -> ProjectJobs:
    return {"data": [job_record(job) for job in jobs]}


def job_page(jobs: tuple[Any, ...], next_cursor: str | None) -> JobPage:
    return {"status": "ok", "data": [job_record(job) for job in jobs], "nextCursor": next_cursor}

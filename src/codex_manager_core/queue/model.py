"""The job record: what the queue stores about one job, with the original Codex Manager's
fields (its `/api/orchestrator/jobs` shape is built from these) plus progress.

A job belongs to an owner: a project id, or `session:<id>` for a chat outside any project.
At most one job of an owner runs at a time. A job is `queued` until a runner takes it,
`running` while it runs, and ends `completed`, `failed` or `canceled` (terminal: it never
changes again, except that retention may delete it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import attrs

from codex_manager_core.models import JsonObject


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELED)


class JobPriority(enum.StrEnum):
    """Interactive jobs (a person waits for them) start before background ones."""

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


@attrs.frozen
class RunningContext:
    """Where a running job's work happens: the worker thread and its current turn."""

    thread_id: str | None = None
    turn_id: str | None = None


def session_owner(session_id: str) -> str:
    """The owner of a job about a chat outside any project."""
    return f"session:{session_id}"


@attrs.frozen
class Job:
    job_id: str
    type: str
    version: int
    owner: str
    """A project id, or `session:<id>`."""
    priority: JobPriority
    state: JobState
    payload: JsonObject
    created_at: datetime
    source_session_id: str | None = None
    dedupe_key: str | None = None
    result: Any = None
    """The job type's result (JSON), once completed."""
    error: str | None = None
    """Why it failed or was canceled."""
    attempts: int = 0
    max_attempts: int = 1
    started_at: datetime | None = None
    completed_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    """Not to start before then (a retry's backoff)."""
    cancel_requested_at: datetime | None = None
    running_context: RunningContext | None = None
    progress: JsonObject | None = None
    """The latest progress the job reported (its shape is the job type's)."""
    steps: JsonObject | None = None
    """The durable steps its attempts recorded (`ctx.step(name, data)`): name -> data, so a
    retried or recovered attempt resumes instead of repeating them."""


_FIELDS: tuple[str, ...] = tuple(field.name for field in attrs.fields(Job))
_FIELD_SET = frozenset(_FIELDS)


def _make_evolve() -> Callable[[Job, dict[str, Any]], Job]:
    # `attrs.evolve` reads every field with getattr in a loop and calls the class with
    # keywords; a job's transitions do this on every job's path, so this is the same
    # generated once: one call, the fields passed by position.
    arguments = ", ".join(f"get({name!r}, job.{name})" for name in _FIELDS)
    namespace: dict[str, Any] = {"Job": Job}
    exec(
        f"def evolve(job, changes):\n    get = changes.get\n    return Job({arguments})\n",
        namespace,
    )
    return cast(Callable[[Job, dict[str, Any]], Job], namespace["evolve"])


_evolve = _make_evolve()


def evolve_job(job: Job, **changes: Any) -> Job:
    """`attrs.evolve(job, **changes)`, faster (it is on every job's path)."""
    if not _FIELD_SET.issuperset(changes):
        unknown = sorted(set(changes) - _FIELD_SET)
        raise TypeError(f"Job has no field(s) {unknown}")
    return _evolve(job, changes)


__all__ = ["Job", "JobPriority", "JobState", "RunningContext", "evolve_job", "session_owner"]

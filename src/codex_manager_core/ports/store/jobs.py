"""Store domain "jobs": the durable job queue. Its mutations (`TransitionJob` is the
compare-and-set that lets exactly one runner take a queued job, and one outcome end a
running one), its query (`JobQuery`, newest first, paged by `Page`) and its reads (what
the scheduler chooses from, the counts capacity checks and health need).

Every transition goes in a `Batch` together with its `orchestrator_job_*` event, so the
queue and the ledger never disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias

import attrs

from codex_manager_core.ports.store.sessions import Page
from codex_manager_core.queue.model import Job, JobState


@attrs.frozen
class PutJob:
    """Insert or replace a whole job (enqueueing one)."""

    job: Job


@attrs.frozen
class TransitionJob:
    """Compare-and-set: move a job from one of `from_states` to `to_state`, setting
    `changes` (names of `Job` fields, not `job_id` or `state`, else ValueError). Fails the
    batch with StoreConflict (key "job <id>") when the job is missing or in another state."""

    job_id: str
    from_states: tuple[JobState, ...]
    to_state: JobState
    changes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PatchJob:
    """Change some fields of an existing job (progress, running_context,
    cancel_requested_at, ...), in whatever state it is: a state changes only by
    `TransitionJob`. A missing job fails the batch with StoreConflict; `job_id` or `state`
    among the names, or an unknown name, raises ValueError."""

    job_id: str
    changes: Mapping[str, Any]


@attrs.frozen
class DeleteJobs:
    """Remove jobs (retention of terminal jobs); ids that do not exist are ignored."""

    job_ids: tuple[str, ...]


JobMutation: TypeAlias = PutJob | TransitionJob | PatchJob | DeleteJobs


@attrs.frozen
class JobQuery:
    """Filters and keyset paging for listing jobs, newest `created_at` first (then
    `job_id`, descending)."""

    states: tuple[JobState, ...] | None = None
    types: tuple[str, ...] | None = None
    owner: str | None = None
    dedupe_key: str | None = None
    """Only jobs with this dedupe key (what enqueueing checks duplicates against)."""
    cursor: str | None = None
    """`Page.next_cursor` of the previous page; anything else raises ValueError."""
    limit: int = 100
    """At least 1 (ValueError otherwise)."""


class JobReads(Protocol):
    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(self, query: JobQuery) -> Page:
        """A page of `Job`s (see `JobQuery`)."""
        ...

    async def count_jobs(self, owner: str | None = None) -> dict[JobState, int]:
        """How many jobs are in each state (every state is a key, 0 included), of one
        owner or of all."""
        ...

    async def queued_jobs(self, limit: int) -> list[Job]:
        """Queued jobs, oldest first (`created_at`, then `job_id`), at most `limit`."""
        ...

    async def running_jobs(self) -> list[Job]:
        """Every running job, oldest first."""
        ...


__all__ = [
    "DeleteJobs",
    "JobMutation",
    "JobQuery",
    "JobReads",
    "PatchJob",
    "PutJob",
    "TransitionJob",
]

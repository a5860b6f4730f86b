"""MemoryStore, domain "jobs": the job table in memory, what its mutations do and its reads,
kept beside `memory.py` (which composes it) to keep that module to one screenful per domain.

Jobs go through the same codec as in `SqliteStore` (`codec.JOBS`), so a read returns what
SQLite would return, and a value SQLite could not store fails here too. Writes go through
the batch's `Undo` log, so a failing compare-and-set later in a batch undoes them."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from codex_manager_core.ports.store.errors import StoreConflict
from codex_manager_core.ports.store.jobs import (
    DeleteJobs,
    JobMutation,
    JobQuery,
    PatchJob,
    PutJob,
    TransitionJob,
)
from codex_manager_core.ports.store.sessions import Page
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.store import codec
from codex_manager_core.store.memory_undo import Undo

#: What a patch may not name: only TransitionJob moves a job's state.
FIXED = ("job_id", "state")


def _key(job: Job) -> tuple[Any, str]:
    return (job.created_at, job.job_id)


class MemoryJobs:
    """The `jobs` table of a MemoryStore: job_id -> the job as a read returns it."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    # ------------------------------------------------------------------ writes

    def mutate(self, mutation: JobMutation, undo: Undo) -> None:
        match mutation:
            case PutJob(job):
                canonical = codec.JOBS.canonical(job)
                undo.set(self._jobs, canonical.job_id, canonical)
            case TransitionJob(job_id, from_states, to_state, changes):
                encoded = codec.JOBS.encode_changes(changes, FIXED)
                encoded["state"] = JobState(to_state).value
                expected = [JobState(state).value for state in from_states]
                self._update(job_id, encoded, expected, undo)
            case PatchJob(job_id, changes):
                encoded = codec.JOBS.encode_changes(changes, FIXED)
                self._update(job_id, encoded, [state.value for state in JobState], undo)
            case DeleteJobs(job_ids):
                for job_id in job_ids:
                    undo.delete(self._jobs, codec.check_str(job_id, "job.job_id"))

    def _update(
        self, job_id: str, encoded: Mapping[str, Any], expected: list[str], undo: Undo
    ) -> None:
        codec.check_str(job_id, "job.job_id")
        current = self._jobs.get(job_id)
        state = None if current is None else current.state.value
        if current is None or state not in expected:
            raise StoreConflict(f"job {job_id}", state, expected)
        undo.set(self._jobs, job_id, codec.JOBS.patched(current, encoded))

    # ------------------------------------------------------------------ reads

    def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def page(self, query: JobQuery) -> Page:
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, got {query.limit}")
        states = None if query.states is None else {JobState(s) for s in query.states}
        types = None if query.types is None else {str(t) for t in query.types}
        after = None
        if query.cursor is not None:
            stamp, job_id = codec.decode_cursor(query.cursor, "job")
            # Cursors carry the stored float; as a datetime it is exactly the stored value.
            after = (codec.dec_dt(stamp), job_id)
        matching = [
            job
            for job in self._jobs.values()
            if (query.owner is None or job.owner == query.owner)
            and (query.dedupe_key is None or job.dedupe_key == query.dedupe_key)
            and (states is None or job.state in states)
            and (types is None or job.type in types)
            and (after is None or _key(job) < after)
        ]
        page = heapq.nlargest(query.limit + 1, matching, key=_key)
        next_cursor = None
        if len(page) > query.limit:
            last = page[query.limit - 1]
            next_cursor = codec.encode_cursor(codec.enc_dt(last.created_at), last.job_id)
        return Page(items=tuple(page[: query.limit]), next_cursor=next_cursor)

    def count(self, owner: str | None) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        for job in self._jobs.values():
            if owner is None or job.owner == owner:
                counts[job.state] += 1
        return counts

    def in_state(self, state: JobState, limit: int | None) -> list[Job]:
        """The jobs in one state, oldest first."""
        matching = [job for job in self._jobs.values() if job.state is state]
        if limit is None:
            return sorted(matching, key=_key)
        return heapq.nsmallest(max(0, int(limit)), matching, key=_key)


__all__ = ["MemoryJobs"]

"""The live jobs (queued and running) in memory, so the queue's hot paths never scan the
store: the runner's pass, the capacity and dedupe checks of enqueue, and the job record an
attempt ends with.

Without it, every runner pass read and decoded every queued job (O(n) a pass, O(n^2) for
n queued jobs) and every enqueue counted the whole jobs table. The index is exact, like
`RequestLifecycle.open`: loaded from the store at recovery, then changed by every job
mutation the queue writes (`apply`, called once the write committed). Only the queue writes
jobs (one process per data directory: DataDirLock), so nothing else can change them.

Sans-IO and pure, like `scheduler.py`: it never awaits. `candidates` gives the scheduler
only what `choose` needs to decide exactly as it would over every queued job: each idle
owner's oldest eligible job of each priority (the best job of an owner is one of these two,
aging included, since aging follows `created_at`), plus every job waiting for a retry's
backoff (for `wake_at` and the rotation's `present` owners).
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from codex_manager_core.ports.store import DeleteJobs, PatchJob, PutJob, TransitionJob
from codex_manager_core.ports.store.jobs import JobMutation
from codex_manager_core.queue.model import Job, JobPriority, JobState, evolve_job
from codex_manager_core.queue.scheduler import eligible
from codex_manager_core.queue.stats import QueueStats

ENDED_KEPT = 10_000
"""Ended jobs remembered (`ended`), the oldest forgotten first."""

_Key = tuple[datetime, str]


def _key(job: Job) -> _Key:
    return (job.created_at, job.job_id)


class QueueIndex:
    def __init__(self) -> None:
        # Here because every job write passes through the index (`job_events.write`); not
        # reset by `load`: they count since this process started.
        self.stats = QueueStats()
        self._reset()

    def _reset(self) -> None:
        self._live: dict[str, Job] = {}
        # Per owner and priority, the queued jobs' (created_at, job_id), oldest first.
        self._queued: dict[str, dict[JobPriority, list[_Key]]] = {}
        self._running: dict[str, Job] = {}
        self._per_owner: dict[str, int] = {}
        # (type, dedupe key) -> the live jobs' ids with it.
        self._dedupe: dict[tuple[str, str], set[str]] = {}
        # Queued jobs with a next_attempt_at (a retry's backoff, usually over by now).
        self._backoff: set[str] = set()
        # For the handoff's short cut (`plain`): the queued interactive jobs, the queued
        # background jobs' keys oldest first, and the queued jobs per type.
        self._interactive = 0
        self._background: list[_Key] = []
        self._queued_types: dict[str, int] = {}
        self._journal: list[Any] | None = None
        # The jobs that ended last, as they ended (a waiter answered without a store read).
        self._ended: collections.OrderedDict[str, Job] = collections.OrderedDict()

    def load(self, jobs: Iterable[Job]) -> None:
        """Start over from the store's queued and running jobs."""
        self._reset()
        for job in jobs:
            self._add(job)

    def begin_reload(self) -> None:
        """Before reading the queued jobs for `reload_queued`: from now on the mutations
        applied are also kept, to replay over that read (it may predate them)."""
        self._journal = []

    def reload_queued(self, queued: Iterable[Job]) -> None:
        """Replace the queued jobs with `queued` (one read of the store, made after
        `begin_reload`), then replay what was applied since. Replaying is safe because
        every mutation sets values (never increments): applying one the read already
        reflects changes nothing, and one about a job the read no longer has is ignored.
        The running jobs are kept: only this process starts jobs."""
        journal, self._journal = self._journal, None
        for job_id in [
            job_id for job_id, job in self._live.items() if job.state is JobState.QUEUED
        ]:
            self._remove(job_id)
        for job in queued:
            if job.job_id not in self._live:
                self._add(job)
        self.apply(journal or ())

    # ------------------------------------------------------------------ reads

    def get(self, job_id: str) -> Job | None:
        """The live job (None: not queued or running)."""
        return self._live.get(job_id)

    def live_count(self, owner: str | None = None) -> int:
        """Queued plus running jobs, of one owner or of all."""
        return len(self._live) if owner is None else self._per_owner.get(owner, 0)

    def duplicates(self, type_: str, dedupe_key: str) -> list[Job]:
        """The live jobs of `type_` with `dedupe_key`."""
        ids = self._dedupe.get((type_, dedupe_key), ())
        return [self._live[job_id] for job_id in ids]

    def running(self) -> list[Job]:
        return list(self._running.values())

    def running_count(self) -> int:
        return len(self._running)

    def queued_count(self) -> int:
        """Queued jobs (those waiting for a backoff included)."""
        return len(self._live) - len(self._running)

    def owner_running(self, owner: str) -> bool:
        return any(job.owner == owner for job in self._running.values())

    def owner_count(self) -> int:
        """Owners with live jobs."""
        return len(self._per_owner)

    def plain(self, young: datetime) -> bool:
        """Whether every queued job is a background job created after `young` (none aged
        into an interactive one) and none waits for a backoff: then an owner's best job is
        its oldest, and owners are ordered by the rotation alone (`JobChooser`'s short
        cut)."""
        background = self._background
        return (
            not self._interactive
            and not self._backoff
            and (not background or background[0][0] > young)
        )

    def queued_types(self) -> Iterable[str]:
        """The types of the queued jobs."""
        return self._queued_types.keys()

    def queued_owners(self) -> Mapping[str, Any]:
        """The owners with queued jobs (keys; the values are the index's own)."""
        return self._queued

    def oldest_background(self, owner: str) -> Job:
        """The oldest queued background job of `owner` (who has one)."""
        return self._live[self._queued[owner][JobPriority.BACKGROUND][0][1]]

    def candidates(
        self,
        now: datetime,
        runnable: Callable[[Job], bool] | None = None,
        busy: set[str] | None = None,
    ) -> list[Job]:
        """What `scheduler.choose` needs as its `queued` (see the module docstring);
        `runnable`: skip the jobs it refuses (they keep their place in the queue); `busy`:
        the owners that run a job (default: those of the running jobs)."""
        if busy is None:
            busy = {job.owner for job in self._running.values()}
        found = {
            job_id: self._live[job_id]
            for job_id in self._backoff
            if runnable is None or runnable(self._live[job_id])
        }
        live = self._live
        for owner, lanes in self._queued.items():
            if owner in busy:
                continue
            for keys in lanes.values():
                for _, job_id in keys:
                    job = live[job_id]
                    if eligible(job, now) and (runnable is None or runnable(job)):
                        found[job_id] = job
                        break
        return list(found.values())

    # ------------------------------------------------------------------ changes

    def apply(self, mutations: Sequence[Any], records: Sequence[tuple[Job, Job]] = ()) -> None:
        """Follow the job mutations of a committed write (others are ignored).

        `records`: (before, after) of the writer's transitions, `after` computed from
        `before` with the mutation's changes; when this index still holds that very
        `before`, `after` is taken as it is instead of being computed again (`attrs.evolve`
        is on every job's path)."""
        if self._journal is not None:
            self._journal.extend(mutations)
        known = {before.job_id: (before, after) for before, after in records} if records else None
        for mutation in mutations:
            self._apply_one(mutation, known)

    def ended(self, job_id: str) -> Job | None:
        """The job as it ended, if it ended recently in this process (its end committed);
        None: not known here (ask the store)."""
        return self._ended.get(job_id)

    def _remember_end(self, job: Job) -> None:
        self._ended[job.job_id] = job
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)

    def _apply_one(
        self, mutation: JobMutation | Any, known: dict[str, tuple[Job, Job]] | None
    ) -> None:
        kind = type(mutation)
        if kind is TransitionJob or kind is PatchJob:  # the usual ones, first and cheaply
            self._apply_change(cast(TransitionJob | PatchJob, mutation), known)
        elif isinstance(mutation, PutJob):
            self._remove(mutation.job.job_id)
            if not mutation.job.state.terminal:
                self._add(mutation.job)
            else:
                self._remember_end(mutation.job)
        elif isinstance(mutation, TransitionJob | PatchJob):
            self._apply_change(mutation, known)
        elif isinstance(mutation, DeleteJobs):
            for job_id in mutation.job_ids:
                self._remove(job_id)
                self._ended.pop(job_id, None)

    def _apply_change(
        self, mutation: TransitionJob | PatchJob, known: dict[str, tuple[Job, Job]] | None
    ) -> None:
        job = self._live.get(mutation.job_id)
        if job is None:
            return  # a terminal job (or one this index never had): nothing live changes
        state = job.state
        if isinstance(mutation, TransitionJob):
            if mutation.to_state is not JobState.QUEUED:
                state = mutation.to_state
            elif JobState.RUNNING in mutation.from_states:
                state = JobState.QUEUED  # a retry, or recovery
        # queued -> queued (a merge) keeps the state: if the job started since, the
        # store has it running with the merged payload, and so does the index.
        record = None if known is None else known.get(mutation.job_id)
        if record is not None and record[0] is job and record[1].state is state:
            after = record[1]
        else:
            after = evolve_job(job, state=state, **mutation.changes)
        self._remove(job.job_id)
        if not state.terminal:
            self._add(after)
        else:
            self._remember_end(after)

    def _add(self, job: Job) -> None:
        self._live[job.job_id] = job
        self._per_owner[job.owner] = self._per_owner.get(job.owner, 0) + 1
        if job.dedupe_key is not None:
            self._dedupe.setdefault((job.type, job.dedupe_key), set()).add(job.job_id)
        if job.state is JobState.RUNNING:
            self._running[job.job_id] = job
            return
        lanes = self._queued.setdefault(job.owner, {})
        key = _key(job)
        bisect.insort(lanes.setdefault(job.priority, []), key)
        if job.priority is JobPriority.BACKGROUND:
            bisect.insort(self._background, key)
        else:
            self._interactive += 1
        self._queued_types[job.type] = self._queued_types.get(job.type, 0) + 1
        if job.next_attempt_at is not None:
            self._backoff.add(job.job_id)

    def _remove(self, job_id: str) -> None:
        job = self._live.pop(job_id, None)
        if job is None:
            return
        left = self._per_owner[job.owner] - 1
        if left:
            self._per_owner[job.owner] = left
        else:
            del self._per_owner[job.owner]
        if job.dedupe_key is not None:
            ids = self._dedupe[(job.type, job.dedupe_key)]
            ids.discard(job_id)
            if not ids:
                del self._dedupe[(job.type, job.dedupe_key)]
        if job.state is JobState.RUNNING:
            del self._running[job_id]
            return
        self._backoff.discard(job_id)
        lanes = self._queued[job.owner]
        keys = lanes[job.priority]
        key = _key(job)
        del keys[bisect.bisect_left(keys, key)]
        if job.priority is JobPriority.BACKGROUND:
            background = self._background
            del background[bisect.bisect_left(background, key)]
        else:
            self._interactive -= 1
        left = self._queued_types[job.type] - 1
        if left:
            self._queued_types[job.type] = left
        else:
            del self._queued_types[job.type]
        if not keys:
            del lanes[job.priority]
            if not lanes:
                del self._queued[job.owner]


__all__ = ["QueueIndex"]

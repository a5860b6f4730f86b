"""Which queued jobs the runner takes next, for its pass and for the handoff at the end of
an attempt (the task of a job that ended goes on with the next job, its end and that
start written together).

Two choosers may now be at work at once (the runner's pass, and each attempt ending), and
each writes its starts after an await. So the jobs chosen but not yet committed `running`
are held here (`taking`) and count as running for every other choice: no job is taken
twice, no owner gets a second running job and no slot is given twice, exactly as when the
pass was the only chooser. An ending job counts as running for every choice but the one
of its own handoff, until its end commits.

The rules themselves stay in `queue.scheduler.choose` (pure); this keeps the runner's
scheduling state: the fair rotation and the unknown-type grace.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from codex_manager_core.queue.definitions import JobTypes
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job
from codex_manager_core.queue.scheduler import Decision, QueueLimits, Rotation, choose


@attrs.frozen
class Choice:
    decision: Decision
    held: bool
    """Some queued job waits for its type to be registered (the grace): its end is due."""


class JobChooser:
    def __init__(self, index: QueueIndex, types: JobTypes, limits: QueueLimits) -> None:
        self._index = index
        self._types = types
        self.limits = limits
        self.rotation = Rotation()
        self.grace_until: datetime | None = None
        """Until then a queued job of an unregistered type waits instead of failing."""
        self.taking: dict[str, Job] = {}
        """Jobs chosen whose start is being written (job id -> the job as queued)."""
        self._slot_limits: dict[int, QueueLimits] = {}
        """`limits` with each smaller concurrency (a handoff fills one slot only)."""

    def busy(self) -> int:
        """Slots taken: the running jobs and the starts being written."""
        return self._index.running_count() + len(self.taking)

    def full(self) -> bool:
        return self.busy() >= self.limits.concurrency

    def choose(self, now: datetime, leaving: Job | None = None) -> Choice:
        """The jobs to start now; `leaving`: the job whose end is written with the start
        (its slot and its owner count as free, and at most one job is chosen). The jobs
        chosen are held (`taking`) until `settled`."""
        index = self._index
        running = [
            job for job in index.running() if leaving is None or job.job_id != leaving.job_id
        ]
        running += self.taking.values()
        limits = self.limits
        if leaving is not None and len(running) + 1 < limits.concurrency:
            # More than this slot is free: take one, the runner's pass takes the others.
            concurrency = len(running) + 1
            limits = self._slot_limits.get(concurrency) or self._slot_limits.setdefault(
                concurrency, attrs.evolve(limits, concurrency=concurrency)
            )
        types = self._types
        if leaving is not None:
            fast = self._choose_plain(now, running, limits)
            if fast is not None:
                return fast
        held: list[Job] = []

        def registered(job: Job) -> bool:
            if job.type in types:
                return True
            held.append(job)
            return False

        in_grace = self.grace_until is not None and now < self.grace_until
        candidates = index.candidates(
            now, registered if in_grace else None, busy={job.owner for job in running}
        )
        decision = choose(candidates, running, limits, now, self.rotation)
        self.rotation = decision.rotation
        for job in decision.start:
            self.taking[job.job_id] = job
        return Choice(decision, bool(held) and self.grace_until is not None)

    def _choose_plain(
        self, now: datetime, running: list[Job], limits: QueueLimits
    ) -> Choice | None:
        """The handoff's choice when the queue is plain (`QueueIndex.plain`: background
        jobs only, none aged, none in a backoff) and every queued job's type is known:
        then `choose` would take the idle owner first in the rotation (the never served
        first, by their oldest job), and its oldest job. This finds that owner without
        looking at every owner's jobs (a handoff per job: O(owners) per job otherwise).
        None: not plain, choose the long way."""
        index = self._index
        if not index.plain(now - timedelta(seconds=limits.background_aging)):
            return None
        types = self._types
        if not all(job_type in types for job_type in index.queued_types()):
            return None  # the grace's choice skips those: the long way
        busy = {job.owner for job in running}
        queued = index.queued_owners()
        rotation = self.rotation
        served = rotation.served
        start: tuple[Job, ...] = ()
        if limits.concurrency > len(running):
            unserved = queued.keys() - busy - set(served)
            if unserved:
                # Ranked -1 alike: the oldest job first (ties: the smaller id).
                start = (
                    min(
                        (index.oldest_background(owner) for owner in unserved),
                        key=lambda job: (job.created_at, job.job_id),
                    ),
                )
            else:
                for owner in served:
                    if owner in queued and owner not in busy:
                        start = (index.oldest_background(owner),)
                        break
        present = busy.union(queued)
        decision = Decision(
            start=start,
            rotation=rotation.after((job.owner for job in start), present),
            wake_at=None,
        )
        self.rotation = decision.rotation
        for job in start:
            self.taking[job.job_id] = job
        return Choice(decision, False)

    def settled(self, jobs: Iterable[Job]) -> None:
        """The starts of `jobs` were written (the index has them running) or refused."""
        for job in jobs:
            self.taking.pop(job.job_id, None)

    def served(self, owner: str) -> None:
        """A job of `owner` started without a choice (at its enqueue): the rotation counts
        it as served, so it stays fair."""
        present = {live.owner for live in self._index.running()}
        self.rotation = self.rotation.after([owner], present | set(self.rotation.served))


__all__ = ["Choice", "JobChooser"]

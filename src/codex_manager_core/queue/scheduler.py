"""Which queued jobs start now: the queue's scheduling rules as a pure function.

Sans-IO, like `rpc.py`: `choose` takes the facts (the queued jobs, the running ones, the
limits, the time, the rotation state) and returns a decision; it never reads the store,
sleeps or awaits. The runner feeds it after every change (an enqueue, a job ending, a
retry's backoff ending at `Decision.wake_at`) and starts what it returns. Keeping it pure
lets the tests drive thousands of steps with a fake clock and check the rules directly.

The rules (issue 9 "Scheduling"; the original's section 5 "Scheduling and concurrency"):
- at most `limits.concurrency` jobs run at once, and at most one per owner;
- a job whose `next_attempt_at` is in the future (a retry's backoff) is not eligible;
- interactive before background, where a background job queued for `background_aging`
  seconds or more counts as interactive, so background work never starves;
- within a priority, owners take turns (least recently served first), not oldest job
  first across the board: one busy owner cannot starve the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from codex_manager_core.queue.model import Job, JobPriority, JobState


@attrs.frozen
class QueueLimits:
    """The queue's bounds (the original's defaults)."""

    concurrency: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    """Jobs running at once, over all owners."""
    max_per_owner: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    """Queued plus running jobs of one owner; one more is refused (`queue_full`)."""
    max_total: int = attrs.field(default=500, validator=attrs.validators.ge(1))
    """Queued plus running jobs over all owners; one more is refused (`queue_full`)."""
    background_aging: float = attrs.field(default=15.0, validator=attrs.validators.ge(0))
    """Seconds after which a queued background job is scheduled as an interactive one."""


@attrs.frozen
class Rotation:
    """The fair-rotation state: owners in the order they last had a job started, least
    recently served first. An owner not listed has not been served (or not since it last
    had no work) and goes before every listed one."""

    served: tuple[str, ...] = ()

    def rank(self, owner: str) -> int:
        # -1 for "never served": ahead of everyone listed.
        try:
            return self.served.index(owner)
        except ValueError:
            return -1

    def after(self, started: Iterable[str], present: set[str]) -> Rotation:
        """The state once `started` owners were served (in that order), forgetting owners
        with no queued or running job (`present`), so the state stays bounded."""
        started = list(started)
        served = self.served
        if len(started) == 1 and present.issuperset(served):
            # The common case (a handoff: one owner served, nobody left): no scan in Python.
            (owner,) = started
            if owner not in served:
                return Rotation((*served, owner))
            at = served.index(owner)
            return Rotation((*served[:at], *served[at + 1 :], owner))
        kept = [owner for owner in served if owner in present and owner not in started]
        return Rotation((*kept, *started))


@attrs.frozen
class Decision:
    start: tuple[Job, ...]
    """The jobs to start now, in order."""
    rotation: Rotation
    """The rotation state to pass to the next `choose`."""
    wake_at: datetime | None
    """The earliest future `next_attempt_at` of a queued job: when to choose again even if
    nothing else happens (None: no job is waiting for its backoff)."""


def effective_priority(job: Job, now: datetime, limits: QueueLimits) -> JobPriority:
    """A job's priority for scheduling: background jobs age into interactive ones."""
    if job.priority is JobPriority.BACKGROUND:
        waited = (now - job.created_at).total_seconds()
        if waited >= limits.background_aging:
            return JobPriority.INTERACTIVE
    return job.priority


def eligible(job: Job, now: datetime) -> bool:
    """Queued and not waiting for a retry's backoff."""
    return job.state is JobState.QUEUED and (
        job.next_attempt_at is None or job.next_attempt_at <= now
    )


def choose(
    queued: Sequence[Job],
    running: Sequence[Job],
    limits: QueueLimits,
    now: datetime,
    rotation: Rotation = Rotation(),
) -> Decision:
    """The queued jobs to start now (see the module docstring for the rules).

    `queued`: the queue's queued jobs (other states are ignored); `running`: the jobs running
    now. Deterministic: ties go to the older job, then the smaller job id."""
    busy = {job.owner for job in running}
    free = max(0, limits.concurrency - len(running))
    # A background job created after this has waited less than `background_aging`.
    young = now - timedelta(seconds=limits.background_aging)

    # Each idle owner's best eligible job (its only candidate, since an owner runs one
    # job), ordered once: interactive (False) before background (True), then the older,
    # then the smaller id. This runs at every job's end: each job's order is computed once.
    best: dict[str, tuple[tuple[bool, datetime, str], Job]] = {}
    present = set(busy)
    waits: list[datetime] = []
    for job in queued:
        if job.state is not JobState.QUEUED:
            continue
        present.add(job.owner)
        retry_at = job.next_attempt_at
        if retry_at is not None and retry_at > now:
            waits.append(retry_at)
            continue
        if job.owner in busy:
            continue
        background = job.priority is JobPriority.BACKGROUND and job.created_at > young
        order = (background, job.created_at, job.job_id)
        current = best.get(job.owner)
        if current is None or order < current[0]:
            best[job.owner] = (order, job)

    start: tuple[Job, ...] = ()
    if free and best:
        ranks = {owner: at for at, owner in enumerate(rotation.served)}

        def owner_order(owner: str) -> tuple[bool, int, datetime, str]:
            background, created_at, job_id = best[owner][0]
            # -1 for "never served": ahead of everyone listed (`Rotation.rank`).
            return (background, ranks.get(owner, -1), created_at, job_id)

        if free == 1:
            start = (best[min(best, key=owner_order)][1],)
        else:
            start = tuple(best[owner][1] for owner in sorted(best, key=owner_order)[:free])
    return Decision(
        start=start,
        rotation=rotation.after((job.owner for job in start), present),
        wake_at=min(waits) if waits else None,
    )


def capacity_problem(counts_owner: int, counts_total: int, limits: QueueLimits) -> str | None:
    """Why one more job cannot be queued (`queue_full`, HTTP 429), or None when it can.

    `counts_owner`: the owner's queued plus running jobs now; `counts_total`: everyone's."""
    if counts_owner >= limits.max_per_owner:
        return (
            f"this owner already has {counts_owner} queued or running jobs; the limit is "
            f"{limits.max_per_owner} (QueueLimits.max_per_owner): wait for some to finish"
        )
    if counts_total >= limits.max_total:
        return (
            f"the queue already holds {counts_total} queued or running jobs; the limit is "
            f"{limits.max_total} (QueueLimits.max_total): wait for some to finish"
        )
    return None


__all__ = [
    "Decision",
    "QueueLimits",
    "Rotation",
    "capacity_problem",
    "choose",
    "effective_priority",
    "eligible",
]

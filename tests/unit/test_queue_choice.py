"""The handoff's short cut (`JobChooser._choose_plain`): when the queue is plain (background
jobs only, none aged, none in a backoff, every type registered) the chooser finds the next
job without looking at every owner; it must decide exactly as `scheduler.choose` over the
index's candidates. A seeded random walk over both plain and not plain queues checks it at
every handoff.

Pure, so no event loop: time is a `FakeClock` advanced by hand."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import attrs
import pytest

from codex_manager_core.ports.store import PutJob, TransitionJob
from codex_manager_core.queue.definitions import JobTypes
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.scheduler import QueueLimits, Rotation, choose
from codex_manager_core.services.job_choice import JobChooser
from codex_manager_core.testing import FakeClock

QUEUED = (JobState.QUEUED,)
RUNNING = (JobState.RUNNING,)


@attrs.frozen
class Empty:
    pass


async def _noop(ctx: Any, payload: Empty) -> Empty:
    return payload


def long_way(
    chooser: JobChooser, index: QueueIndex, leaving: Job, now: Any, in_grace: bool
) -> tuple[tuple[str, ...], Rotation]:
    """`JobChooser.choose(now, leaving)` as it decided before the short cut."""
    running = [job for job in index.running() if job.job_id != leaving.job_id]
    running += chooser.taking.values()
    limits = chooser.limits
    if len(running) + 1 < limits.concurrency:
        limits = attrs.evolve(limits, concurrency=len(running) + 1)
    registered = (lambda job: job.type in chooser._types) if in_grace else None
    candidates = index.candidates(now, registered, busy={job.owner for job in running})
    decision = choose(candidates, running, limits, now, chooser.rotation)
    return tuple(job.job_id for job in decision.start), decision.rotation


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mix", ["plain", "mixed"])
def test_the_handoffs_short_cut_decides_as_the_scheduler(seed: int, mix: str) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    index = QueueIndex()
    types = JobTypes()
    types.job_type("noop", payload=Empty, result=Empty)(_noop)
    chooser = JobChooser(index, types, QueueLimits(concurrency=3, background_aging=15.0))
    grace = rng.random() < 0.5
    chooser.grace_until = clock.utcnow() + timedelta(seconds=1000 if grace else -1)
    plain_handoffs = handoffs = 0
    for step in range(600):
        if step == 300:
            # Its type registered at last (jobs of it waited in the grace, or ran).
            types.job_type("unknown", payload=Empty, result=Empty)(_noop)
        clock.advance(rng.choice([0.0, 0.01, 0.1] if mix == "plain" else [0.0, 0.5, 4.0]))
        now = clock.utcnow()
        running = index.running()
        if running and rng.random() < 0.5:
            leaving = rng.choice(running)
            young = now - timedelta(seconds=chooser.limits.background_aging)
            plain = index.plain(young) and all(t in types for t in index.queued_types())
            expected = long_way(chooser, index, leaving, now, grace)
            decision = chooser.choose(now, leaving=leaving).decision
            assert (tuple(job.job_id for job in decision.start), decision.rotation) == expected
            handoffs += 1
            plain_handoffs += plain
            chooser.settled(decision.start)
            index.apply([TransitionJob(leaving.job_id, RUNNING, JobState.COMPLETED, {})])
            for job in decision.start:
                changes = {"next_attempt_at": None}
                index.apply([TransitionJob(job.job_id, QUEUED, JobState.RUNNING, changes)])
            continue
        if running and mix == "mixed" and rng.random() < 0.1:
            job = rng.choice(running)
            later = now + timedelta(seconds=rng.choice([0.5, 3.0]))
            index.apply(
                [TransitionJob(job.job_id, RUNNING, JobState.QUEUED, {"next_attempt_at": later})]
            )
            continue
        if len(running) < 3 and index.queued_count() and rng.random() < 0.3:
            decision = chooser.choose(now).decision  # the pass
            chooser.settled(decision.start)
            for job in decision.start:
                changes = {"next_attempt_at": None}
                index.apply([TransitionJob(job.job_id, QUEUED, JobState.RUNNING, changes)])
            continue
        # Mixed: now and then a job that makes the queue not plain (interactive, aged, of
        # an unknown type); the plain ones drain it back to plain.
        odd = rng.choice(["interactive", "aged", "unknown"]) if mix == "mixed" else None
        odd = odd if rng.random() < 0.1 else None
        priority = JobPriority.INTERACTIVE if odd == "interactive" else JobPriority.BACKGROUND
        job_type = "unknown" if odd == "unknown" else "noop"
        created = now - timedelta(seconds=20.0 if odd == "aged" else 0.0)
        job = Job(
            job_id=f"j{step:04d}",
            type=job_type,
            version=1,
            owner=f"o{rng.randrange(8)}",
            priority=priority,
            state=JobState.QUEUED,
            payload={},
            created_at=created,
        )
        index.apply([PutJob(job)])
    assert handoffs > 50, "the walk handed slots over"
    if mix == "plain":
        assert plain_handoffs == handoffs, "a plain queue takes the short cut every time"
    else:
        assert 0 < plain_handoffs < handoffs, "both ways were taken"

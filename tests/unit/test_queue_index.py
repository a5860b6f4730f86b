"""The in-memory index of live jobs (`queue/index.py`): it follows the queue's mutations
exactly, and `choose` over its candidates decides as `choose` over every queued job.

Pure, so no event loop: time is a `FakeClock` advanced by hand."""

from __future__ import annotations

import random
from datetime import timedelta

import attrs

from codex_manager_core.ports.store import DeleteJobs, PatchJob, PutJob, TransitionJob
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.scheduler import QueueLimits, Rotation, choose
from codex_manager_core.testing import FakeClock

QUEUED = (JobState.QUEUED,)
RUNNING = (JobState.RUNNING,)


def make_job(job_id: str, owner: str, clock: FakeClock, **fields: object) -> Job:
    base = Job(
        job_id=job_id,
        type="noop",
        version=1,
        owner=owner,
        priority=JobPriority.BACKGROUND,
        state=JobState.QUEUED,
        payload={},
        created_at=clock.utcnow(),
    )
    return attrs.evolve(base, **fields)


def test_mutations_are_followed() -> None:
    clock = FakeClock()
    index = QueueIndex()
    a = make_job("a", "p1", clock, dedupe_key="k")
    b = make_job("b", "p1", clock)
    index.apply([PutJob(a), PutJob(b)])
    assert (index.live_count("p1"), index.live_count(), index.live_count("p2")) == (2, 2, 0)
    assert index.duplicates("noop", "k") == [a]

    index.apply([TransitionJob("a", QUEUED, JobState.RUNNING, {"attempts": 1})])
    running = index.get("a")
    assert running is not None
    assert (running.state, running.attempts) == (JobState.RUNNING, 1)
    assert index.running() == [running]

    # A merge (queued -> queued) committed before the start keeps the job running.
    index.apply([TransitionJob("a", QUEUED, JobState.QUEUED, {"payload": {"n": 2}})])
    merged = index.get("a")
    assert merged is not None
    assert (merged.state, merged.payload) == (JobState.RUNNING, {"n": 2})

    index.apply([PatchJob("a", {"progress": {"p": 1}})])
    patched = index.get("a")
    assert patched is not None
    assert patched.progress == {"p": 1}

    index.apply([TransitionJob("a", RUNNING, JobState.COMPLETED, {"result": 1})])
    assert (index.get("a"), index.duplicates("noop", "k"), index.live_count()) == (None, [], 1)
    # A mutation about a job that is not live changes nothing.
    index.apply([TransitionJob("a", RUNNING, JobState.FAILED, {})])
    index.apply([DeleteJobs(("b", "missing"))])
    assert (index.live_count(), index.running(), index.candidates(clock.utcnow())) == (0, [], [])


def test_reload_replays_what_was_applied_meanwhile() -> None:
    clock = FakeClock()
    index = QueueIndex()
    a = make_job("a", "p1", clock)
    b = make_job("b", "p2", clock)
    index.begin_reload()
    # Applied while the store was read: the read may or may not reflect them.
    index.apply([PutJob(b), TransitionJob("a", QUEUED, JobState.CANCELED, {})])
    index.reload_queued([a])  # a stale read: `a` still queued, `b` not yet there
    assert index.get("a") is None
    assert index.get("b") == b
    assert index.live_count() == 1


def test_choose_over_the_candidates_decides_as_over_every_job() -> None:
    """A seeded random walk: jobs enqueued, started, retried with backoff and ended over
    time, and at every step `choose` over the index's candidates equals `choose` over
    every queued job (the store's view)."""
    rng = random.Random(9)
    clock = FakeClock()
    limits = QueueLimits(concurrency=3, background_aging=15.0)
    index = QueueIndex()
    jobs: dict[str, Job] = {}
    rotation = Rotation()
    started = 0
    for step in range(400):
        clock.advance(rng.choice([0.0, 0.5, 2.0, 7.0]))
        now = clock.utcnow()
        roll = rng.random()
        live = [job for job in jobs.values() if not job.state.terminal]
        running_jobs = [job for job in live if job.state is JobState.RUNNING]
        if roll < 0.5 or not live:
            job = make_job(
                f"j{step}",
                f"p{rng.randrange(6)}",
                clock,
                priority=rng.choice(list(JobPriority)),
            )
            mutation: object = PutJob(job)
        elif roll < 0.7 and running_jobs:
            job = rng.choice(running_jobs)
            if rng.random() < 0.5:
                later = now + timedelta(seconds=rng.choice([1.0, 5.0, 20.0]))
                mutation = TransitionJob(
                    job.job_id, RUNNING, JobState.QUEUED, {"next_attempt_at": later}
                )
            else:
                mutation = TransitionJob(job.job_id, RUNNING, JobState.COMPLETED, {})
        else:
            queued = [job for job in jobs.values() if job.state is JobState.QUEUED]
            everything = choose(queued, running_jobs, limits, now, rotation)
            mine = choose(index.candidates(now), index.running(), limits, now, rotation)
            assert mine == everything
            rotation = everything.rotation
            started += len(everything.start)
            for job in everything.start:
                changes = {"next_attempt_at": None}
                index.apply([TransitionJob(job.job_id, QUEUED, JobState.RUNNING, changes)])
                jobs[job.job_id] = attrs.evolve(job, state=JobState.RUNNING, **changes)
            continue
        index.apply([mutation])
        if isinstance(mutation, PutJob):
            jobs[mutation.job.job_id] = mutation.job
        else:
            assert isinstance(mutation, TransitionJob)
            before = jobs[mutation.job_id]
            jobs[mutation.job_id] = attrs.evolve(
                before, state=mutation.to_state, **mutation.changes
            )
        assert index.live_count() == sum(not job.state.terminal for job in jobs.values())
    # The walk did exercise the scheduler, backoff included.
    assert started > 30
    assert any(job.next_attempt_at is not None for job in jobs.values())

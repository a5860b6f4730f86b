"""The queue's scheduler (`queue/scheduler.py`): each rule alone, then a seeded simulation of
50 jobs over 5 owners checking the rules together (no starvation, interactive first).

Pure functions, so no event loop: time is a `FakeClock` advanced by hand."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
import pytest

from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.scheduler import (
    QueueLimits,
    Rotation,
    capacity_problem,
    choose,
    effective_priority,
)
from codex_manager_core.testing import FakeClock

INTER = JobPriority.INTERACTIVE
BACK = JobPriority.BACKGROUND


def make_job(
    job_id: str,
    owner: str,
    created_at: datetime,
    priority: JobPriority = INTER,
    state: JobState = JobState.QUEUED,
    next_attempt_at: datetime | None = None,
) -> Job:
    return Job(
        job_id=job_id,
        type="noop",
        version=1,
        owner=owner,
        priority=priority,
        state=state,
        payload={},
        created_at=created_at,
        next_attempt_at=next_attempt_at,
    )


def ids(jobs: Sequence[Job]) -> list[str]:
    return [job.job_id for job in jobs]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_global_concurrency_defaults_to_two(clock: FakeClock) -> None:
    now = clock.utcnow()
    queued = [make_job(f"j{n}", f"owner{n}", now) for n in range(5)]
    assert QueueLimits().concurrency == 2
    assert ids(choose(queued, [], QueueLimits(), now).start) == ["j0", "j1"]
    running = [make_job("r", "other", now, state=JobState.RUNNING)]
    assert ids(choose(queued, running, QueueLimits(), now).start) == ["j0"]
    full = [*running, make_job("r2", "other2", now, state=JobState.RUNNING)]
    assert choose(queued, full, QueueLimits(), now).start == ()


def test_at_most_one_running_job_per_owner(clock: FakeClock) -> None:
    now = clock.utcnow()
    limits = QueueLimits(concurrency=10)
    queued = [make_job("a1", "A", now), make_job("a2", "A", now), make_job("b1", "B", now)]
    assert ids(choose(queued, [], limits, now).start) == ["a1", "b1"]
    running = [make_job("a0", "A", now, state=JobState.RUNNING)]
    assert ids(choose(queued, running, limits, now).start) == ["b1"]


def test_a_job_in_its_backoff_is_not_eligible_until_next_attempt_at(clock: FakeClock) -> None:
    now = clock.utcnow()
    later = now + timedelta(seconds=5)
    queued = [make_job("a1", "A", now, next_attempt_at=later)]
    decision = choose(queued, [], QueueLimits(), now)
    assert decision.start == ()
    assert decision.wake_at == later
    clock.advance(5)
    decision = choose(queued, [], QueueLimits(), clock.utcnow())
    assert ids(decision.start) == ["a1"]
    assert decision.wake_at is None


def test_interactive_starts_before_an_older_background_job(clock: FakeClock) -> None:
    old = clock.utcnow()
    clock.advance(10)  # under the 15 s aging
    now = clock.utcnow()
    queued = [make_job("b1", "B", old, priority=BACK), make_job("a1", "A", now, priority=INTER)]
    limits = QueueLimits(concurrency=1)
    assert ids(choose(queued, [], limits, now).start) == ["a1"]
    # Within one owner too.
    queued = [make_job("a1", "A", old, priority=BACK), make_job("a2", "A", now, priority=INTER)]
    assert ids(choose(queued, [], QueueLimits(), now).start) == ["a2"]


def test_a_background_job_ages_into_an_interactive_one(clock: FakeClock) -> None:
    created = clock.utcnow()
    background = make_job("b1", "B", created, priority=BACK)
    limits = QueueLimits(concurrency=1)
    clock.advance(14.9)
    fresh = make_job("a1", "A", clock.utcnow(), priority=INTER)
    assert effective_priority(background, clock.utcnow(), limits) is BACK
    assert ids(choose([background, fresh], [], limits, clock.utcnow()).start) == ["a1"]
    clock.advance(0.1)  # 15 s queued: the default aging
    assert effective_priority(background, clock.utcnow(), limits) is INTER
    # Now both count as interactive; neither owner was served, so the older job goes first.
    assert ids(choose([background, fresh], [], limits, clock.utcnow()).start) == ["b1"]


def test_owners_take_turns_instead_of_oldest_first(clock: FakeClock) -> None:
    """Owner A's ten jobs are all older than B's and C's, yet A does not run them in a row."""
    start = clock.utcnow()
    queued = [make_job(f"a{n}", "A", start + timedelta(milliseconds=n)) for n in range(10)]
    queued += [
        make_job(f"b{n}", "B", start + timedelta(seconds=1, milliseconds=n)) for n in range(2)
    ]
    queued += [make_job("c0", "C", start + timedelta(seconds=2))]
    limits = QueueLimits(concurrency=1)
    rotation = Rotation()
    order: list[str] = []
    clock.advance(3)
    while queued:
        decision = choose(queued, [], limits, clock.utcnow(), rotation)
        (job,) = decision.start  # nothing runs between steps: the job started and finished
        order.append(job.job_id)
        queued.remove(job)
        rotation = decision.rotation
    assert order[:7] == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]
    assert order[7:] == [f"a{n}" for n in range(4, 10)]


def test_states_other_than_queued_are_not_started(clock: FakeClock) -> None:
    now = clock.utcnow()
    queued = [
        make_job("done", "A", now, state=JobState.COMPLETED),
        make_job("gone", "B", now, state=JobState.CANCELED),
        make_job("ok", "C", now),
    ]
    assert ids(choose(queued, [], QueueLimits(), now).start) == ["ok"]


def test_the_rotation_forgets_owners_without_work(clock: FakeClock) -> None:
    now = clock.utcnow()
    rotation = Rotation(("gone", "A"))
    decision = choose([make_job("b1", "B", now)], [], QueueLimits(), now, rotation)
    assert decision.rotation == Rotation(("B",))


def test_capacity_problem_names_the_limit_reached() -> None:
    limits = QueueLimits()
    assert (limits.max_per_owner, limits.max_total) == (100, 500)
    assert capacity_problem(99, 499, limits) is None
    owner = capacity_problem(100, 100, limits)
    assert owner is not None
    assert "max_per_owner" in owner
    assert "100" in owner
    total = capacity_problem(3, 500, limits)
    assert total is not None
    assert "max_total" in total


@pytest.mark.parametrize("seed", range(8))
def test_simulation_50_jobs_over_5_owners(seed: int, clock: FakeClock) -> None:
    """Jobs arrive over time with random priorities (some waiting for a backoff); each step
    starts what `choose` returns and finishes running jobs at random. Checked at every step:
    the global limit, one running job per owner, interactive before background; at the end:
    every job started (no owner starved)."""
    rng = random.Random(seed)
    limits = QueueLimits()
    start = clock.utcnow()
    owners = [f"owner{n}" for n in range(5)]
    arrivals: list[Job] = []
    for n in range(50):
        created = start + timedelta(seconds=rng.uniform(0, 30))
        backoff = rng.random() < 0.2
        arrivals.append(
            make_job(
                f"j{n:02}",
                rng.choice(owners[:2] if rng.random() < 0.5 else owners),  # two busy owners
                created,
                priority=rng.choice([INTER, BACK]),
                next_attempt_at=created + timedelta(seconds=rng.uniform(1, 10))
                if backoff
                else None,
            )
        )
    arrivals.sort(key=lambda job: job.created_at)
    queued: list[Job] = []
    running: list[Job] = []
    started: set[str] = set()
    rotation = Rotation()
    for _step in range(5000):
        now = clock.utcnow()
        while arrivals and arrivals[0].created_at <= now:
            queued.append(arrivals.pop(0))
        decision = choose(queued, running, limits, now, rotation)
        rotation = decision.rotation
        chosen = {job.job_id for job in decision.start}
        if any(effective_priority(job, now, limits) is BACK for job in decision.start):
            # A background job started: no idle owner was left with an eligible
            # interactive one.
            busy = {job.owner for job in running}
            for job in queued:
                waiting = job.next_attempt_at is not None and job.next_attempt_at > now
                if job.owner in busy or waiting or job.job_id in chosen:
                    continue
                if any(other.owner == job.owner for other in decision.start):
                    continue
                assert effective_priority(job, now, limits) is BACK, (job, decision.start)
        for job in decision.start:
            queued.remove(job)
            running.append(attrs.evolve(job, state=JobState.RUNNING, started_at=now))
            started.add(job.job_id)
        assert len(running) <= limits.concurrency
        assert len({job.owner for job in running}) == len(running)
        running = [job for job in running if rng.random() < 0.6]  # the rest finish
        if not (arrivals or queued or running):
            break
        clock.advance(rng.uniform(0.1, 2.0))
    assert not arrivals
    assert not queued, f"never started: {ids(queued)}"
    assert len(started) == 50

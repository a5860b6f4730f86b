"""`job_events.Retention` at its limit: the jobs an end deletes are the owner's oldest
beyond `queue_retained_per_owner` (found without sorting, as every end pays it once an
owner is at the limit), checked against the plain definition over random histories."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.services.job_events import Retention

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def a_job(n: int, at: float) -> Job:
    return Job(
        job_id=f"job_{n:04d}",
        type="noop",
        version=1,
        owner="p",
        priority=JobPriority.BACKGROUND,
        state=JobState.COMPLETED,
        payload={},
        created_at=T0 + timedelta(seconds=at),
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_an_end_at_the_limit_deletes_the_owners_oldest_beyond_it(seed: int) -> None:
    rng = random.Random(seed)
    keep = rng.choice([1, 3, 10])
    ctx: Any = SimpleNamespace(config=SimpleNamespace(queue_retained_per_owner=keep))
    retention = Retention()
    retention._terminal["p"] = []  # the owner loaded, no job ended yet
    kept: list[tuple[datetime, str]] = []
    deleted = 0
    for n in range(300):
        # Mostly in creation order, sometimes an older job ends late.
        job = a_job(n, n - rng.choice([0, 0, 0, 5, 40]) + 0.5 * rng.random())
        doomed = await retention.doomed(ctx, job)
        everything = sorted({*kept, (job.created_at, job.job_id)})
        expected = tuple(job_id for _, job_id in everything[: max(0, len(everything) - keep)])
        assert doomed == expected
        retention.ended(job, doomed)
        kept = [item for item in everything if item[1] not in doomed]
        assert retention._terminal["p"] == kept
        deleted += len(doomed)
    assert deleted == 300 - keep

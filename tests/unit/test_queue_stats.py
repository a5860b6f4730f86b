"""The queue's figures for health and metrics, over MemoryRuntime + MemoryStore + FakeClock:
`manager.health().queue` (live jobs from the runner's index, ended ones from the store) and
`QueueStats` (enqueued, retries, ended per state, latency from enqueue to end on the
Manager's clock). Handlers wait on events the test sets; time moves only by `advance`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import attrs
import pytest

from codex_manager_core import Manager, ManagerConfig, QueueHealth
from codex_manager_core.queue.model import JobState
from codex_manager_core.queue.policies import RetryPolicy
from codex_manager_core.queue.stats import LATENCY_BUCKETS, QueueStats
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 10.0


@attrs.frozen
class Note:
    text: str


@asynccontextmanager
async def open_manager(clock: FakeClock) -> AsyncIterator[Manager]:
    settings = ManagerConfig(import_user_auth=False, delta_retention=None)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=MemoryRuntime({}), config=settings, clock=clock
        ) as manager:
            yield manager


async def test_health_and_stats_follow_jobs_from_enqueue_to_end() -> None:
    clock = FakeClock()
    started, release = anyio.Event(), anyio.Event()
    async with open_manager(clock) as manager:

        @manager.jobs.job_type("gate", payload=Note, result=Note, timeout=3600.0)
        async def gated(ctx: JobContext, payload: Note) -> Note:
            started.set()
            await release.wait()
            return payload

        retry = RetryPolicy(max_attempts=2, classifier=lambda exc: "retryable", base_delay=0)

        @manager.jobs.job_type("flaky", payload=Note, result=Note, retry=retry)
        async def flaky(ctx: JobContext, payload: Note) -> Note:
            if ctx.attempt == 1:
                raise RuntimeError("once")
            return payload

        stats = manager.jobs.runner.index.stats
        assert (await manager.health()).queue == QueueHealth(0, 0, 0, 0, 0, 0)

        first = (await manager.jobs.enqueue("gate", {"text": "a"}, owner="p1")).job
        with anyio.fail_after(WAIT):
            await started.wait()
        second = (await manager.jobs.enqueue("gate", {"text": "b"}, owner="p1")).job
        other = (await manager.jobs.enqueue("gate", {"text": "c"}, owner="p2")).job
        await manager.jobs.cancel(other.job_id)
        queue = (await manager.health()).queue
        assert queue == QueueHealth(
            queued=1, running=1, completed=0, failed=0, canceled=1, owners=1
        )

        clock.advance(7.0)  # the first job took 7 s from enqueue to end
        release.set()
        assert (await manager.jobs.wait(first.job_id, timeout=WAIT)).state is JobState.COMPLETED
        await manager.jobs.wait(second.job_id, timeout=WAIT)
        done = await manager.jobs.wait(
            (await manager.jobs.enqueue("flaky", {"text": "f"}, owner="p3")).job.job_id,
            timeout=WAIT,
        )
        assert done.attempts == 2

        queue = (await manager.health()).queue
        assert queue == QueueHealth(0, 0, completed=3, failed=0, canceled=1, owners=0)
        assert stats.enqueued == 4
        assert stats.retries == 1
        assert stats.ended == {JobState.COMPLETED: 3, JobState.FAILED: 0, JobState.CANCELED: 1}
        assert stats.latency_count == 4
        # The canceled job ended at once; the first job 7 s after its enqueue; the second
        # was enqueued before the clock moved, so it too took 7 s.
        assert stats.latency_sum == pytest.approx(14.0)
        cumulative = dict(stats.cumulative())
        assert cumulative[5.0] == 2
        assert cumulative[15.0] == 4


def test_latency_buckets_are_cumulative_and_the_overflow_is_only_in_the_count() -> None:
    stats = QueueStats()
    for seconds in (0.05, 0.3, 0.3, 100.0, 10_000.0):
        stats._latency(seconds)
    cumulative = stats.cumulative()
    assert [bound for bound, _ in cumulative] == list(LATENCY_BUCKETS)
    assert dict(cumulative)[0.1] == 1
    assert dict(cumulative)[0.5] == 3
    assert dict(cumulative)[300.0] == 4
    assert cumulative[-1][1] == 4  # 10,000 s is past the last bound: +Inf only
    assert stats.latency_count == 5

"""The end of an attempt hands its slot to the next job: the end and that start in one
write, the next attempt run by the same task. And the chooser that makes it safe while
the runner's pass and several ends choose at once (`services.job_choice`): a job chosen
but not yet written counts as running for every other choice.

Over MemoryRuntime + MemoryStore + FakeClock, as tests/unit/test_queue_runner.py."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core import Conflict, Manager, ManagerConfig
from codex_manager_core.ports.store import Batch, TransitionJob
from codex_manager_core.queue.definitions import JobTypes
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.scheduler import QueueLimits
from codex_manager_core.services.job_choice import JobChooser
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 10.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Text:
    text: str


@attrs.frozen
class Echoed:
    text: str


def echo_type(name: str = "echo") -> Callable[..., Any]:
    return lambda manager: manager.jobs.job_type(name, payload=Text, result=Echoed)


@asynccontextmanager
async def open_manager(**config: Any) -> AsyncIterator[Manager]:
    config.setdefault("queue_shutdown_drain", 0.0)
    settings = ManagerConfig(import_user_auth=False, delta_retention=None, **config)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=MemoryRuntime({}), config=settings, clock=FakeClock()
        ) as manager:
            yield manager


def job(job_id: str, owner: str, *, state: JobState = JobState.QUEUED, at: int = 0) -> Job:
    return Job(
        job_id=job_id,
        type="echo",
        version=1,
        owner=owner,
        priority=JobPriority.BACKGROUND,
        state=state,
        payload={"text": job_id},
        created_at=T0 + timedelta(seconds=at),
    )


# ---------------------------------------------------------------------- the handoff


async def test_an_ended_job_hands_its_slot_to_the_next_in_the_same_write() -> None:
    release = anyio.Event()
    async with open_manager(queue_concurrency=1) as manager:

        @echo_type()(manager)
        async def run(ctx: JobContext, payload: Text) -> Echoed:
            if payload.text == "first":
                await release.wait()
            return Echoed(payload.text)

        first = (await manager.jobs.enqueue("echo", {"text": "first"}, owner="p1")).job
        second = (await manager.jobs.enqueue("echo", {"text": "second"}, owner="p2")).job
        assert (first.state, second.state) == (JobState.RUNNING, JobState.QUEUED)
        release.set()
        with anyio.fail_after(WAIT):
            done = [await manager.jobs.wait(j.job_id) for j in (first, second)]
        events = await manager.events.read(types=["orchestrator_job_"], limit=100)
    assert [j.state for j in done] == [JobState.COMPLETED, JobState.COMPLETED]
    by_id = {(e.type, e.payload["jobId"]): e.seq for e in events}
    completed = by_id[("orchestrator_job_completed", first.job_id)]
    started = by_id[("orchestrator_job_started", second.job_id)]
    assert started == completed + 1, "the end and the next start in one write, in order"
    assert done[1].attempts == 1


async def test_handoffs_keep_one_job_per_owner_and_the_concurrency_under_cancels() -> None:
    """Many short jobs over few owners, some canceled while queued (racing with the ends
    that choose them): never two jobs of one owner at once, never more than the
    concurrency, and every job ends exactly once."""
    rng = random.Random(7)
    gate = anyio.Event()
    running: list[str] = []
    peak = 0
    async with open_manager(queue_concurrency=3) as manager:

        @echo_type()(manager)
        async def run(ctx: JobContext, payload: Text) -> Echoed:
            nonlocal peak
            assert ctx.owner not in running, "two jobs of one owner ran at once"
            running.append(ctx.owner)
            peak = max(peak, len(running))
            try:
                await gate.wait()
                for _ in range(rng.randrange(3)):
                    await anyio.lowlevel.checkpoint()
            finally:
                running.remove(ctx.owner)
            return Echoed(payload.text)

        ids = [
            (await manager.jobs.enqueue("echo", {"text": str(n)}, owner=f"p{n % 4}")).job.job_id
            for n in range(200)
        ]
        # The first jobs hold the slots until the gate opens; then the cancels race with
        # the ends choosing the next jobs.
        gate.set()
        canceled: dict[str, JobState] = {}
        for victim in rng.sample(ids, 40):
            # Conflict: it had ended already. A running victim may complete before its
            # cancel lands: the answer says.
            with contextlib.suppress(Conflict):
                canceled[victim] = (await manager.jobs.cancel(victim)).state
        with anyio.fail_after(WAIT):
            done = {job_id: await manager.jobs.wait(job_id) for job_id in ids}
        events = await manager.events.read(types=["orchestrator_job_"], limit=1000)
    assert 1 <= peak <= 3
    assert JobState.CANCELED in canceled.values()
    for job_id, ended in done.items():
        assert ended.state is canceled.get(job_id, JobState.COMPLETED), (job_id, ended)
    ends = [e for e in events if e.payload["state"] in ("completed", "canceled")]
    assert sorted(e.payload["jobId"] for e in ends) == sorted(ids), "each job ends once"
    starts = [e.payload["jobId"] for e in events if e.type == "orchestrator_job_started"]
    assert len(starts) == len(set(starts)), "no job started twice"


async def test_once_the_drain_began_an_end_hands_nothing_over() -> None:
    """What is queued stays queued for the next start (the drain starts nothing)."""
    release = anyio.Event()
    async with open_manager(queue_concurrency=1, queue_shutdown_drain=5.0) as manager:

        @echo_type()(manager)
        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await release.wait()
            return Echoed(payload.text)

        first = (await manager.jobs.enqueue("echo", {"text": "1"}, owner="p1")).job
        second = (await manager.jobs.enqueue("echo", {"text": "2"}, owner="p2")).job
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(manager.jobs.runner.drain, 5.0)
                await anyio.wait_all_tasks_blocked()  # the drain waits for `first`
                release.set()
        ended = await manager.jobs.get(first.job_id)
        waiting = await manager.jobs.get(second.job_id)
    assert ended.state is JobState.COMPLETED
    assert (waiting.state, waiting.attempts) == (JobState.QUEUED, 0)


class CancelBeforeEnd(MemoryStore):
    """Commits the cancel of `victim` just before the write that ends `trigger`: the
    handoff chose `victim` while it was queued, and its start now conflicts."""

    def __init__(self) -> None:
        super().__init__()
        self.trigger: str | None = None
        self.victim = ""
        self.index: QueueIndex | None = None

    async def apply(self, batch: Batch) -> list[Any]:
        trigger = self.trigger
        if trigger is not None and any(
            isinstance(m, TransitionJob) and m.job_id == trigger and m.to_state.terminal
            for m in batch.mutations
        ):
            self.trigger = None
            cancel = TransitionJob(
                self.victim, (JobState.QUEUED,), JobState.CANCELED, {"error": "canceled"}
            )
            await super().apply(Batch((cancel,)))
            assert self.index is not None
            self.index.apply([cancel])  # as the cancel's own task does once committed
        return await super().apply(batch)


async def test_a_handoff_whose_next_job_was_canceled_meanwhile_writes_the_end_alone() -> None:
    store = CancelBeforeEnd()
    release = anyio.Event()
    settings = ManagerConfig(
        import_user_auth=False, delta_retention=None, queue_concurrency=1, queue_shutdown_drain=0
    )
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=store, transport=MemoryRuntime({}), config=settings, clock=FakeClock()
        ) as manager:

            @echo_type()(manager)
            async def run(ctx: JobContext, payload: Text) -> Echoed:
                if payload.text == "first":
                    await release.wait()
                return Echoed(payload.text)

            first = (await manager.jobs.enqueue("echo", {"text": "first"}, owner="p1")).job
            victim = (await manager.jobs.enqueue("echo", {"text": "victim"}, owner="p2")).job
            third = (await manager.jobs.enqueue("echo", {"text": "third"}, owner="p3")).job
            store.trigger, store.victim = first.job_id, victim.job_id
            store.index = manager.jobs.runner.index
            release.set()
            done = [await manager.jobs.wait(j.job_id) for j in (first, victim, third)]
            events = await manager.events.read(types=["orchestrator_job_started"], limit=100)
    assert [j.state for j in done] == [JobState.COMPLETED, JobState.CANCELED, JobState.COMPLETED]
    started = [e.payload["jobId"] for e in events]
    assert started == [first.job_id, third.job_id], "the canceled job never started"


# ---------------------------------------------------------------------- the chooser


def chooser(jobs: list[Job], concurrency: int = 2) -> tuple[JobChooser, QueueIndex]:
    index = QueueIndex()
    index.load(jobs)
    types = JobTypes()
    types.job_type("echo", payload=Text, result=Echoed)(_noop)
    return JobChooser(index, types, QueueLimits(concurrency=concurrency)), index


async def _noop(ctx: JobContext, payload: Text) -> Echoed:
    return Echoed(payload.text)


def test_a_chosen_job_counts_as_running_until_settled() -> None:
    now = T0 + timedelta(seconds=100)
    choose, _ = chooser(
        [job("a1", "a", at=1), job("a2", "a", at=2), job("b1", "b", at=3), job("c1", "c", at=4)]
    )
    first = choose.choose(now).decision.start
    assert [j.job_id for j in first] == ["a1", "b1"]
    assert choose.full(), "two starts being written fill both slots"
    # Another choice meanwhile takes neither those jobs nor their owners' next ones.
    assert choose.choose(now).decision.start == ()
    choose.settled(first[:1])
    assert [j.job_id for j in choose.choose(now).decision.start] == ["c1"]


def test_a_handoff_frees_the_leaving_jobs_owner_and_takes_one_job() -> None:
    now = T0 + timedelta(seconds=100)
    leaving = job("a0", "a", state=JobState.RUNNING)
    choose, _ = chooser(
        [leaving, job("a1", "a", at=1), job("b1", "b", at=2), job("c1", "c", at=3)],
        concurrency=3,
    )
    # Two slots are free (3 - 1 running) but a handoff fills the leaving job's only.
    start = choose.choose(now, leaving=leaving).decision.start
    assert [j.job_id for j in start] == ["a1"], "its owner is free again, oldest first"
    assert list(choose.taking) == ["a1"]
    # The pass, meanwhile, sees a0 still running and a1 taken: owner a is busy.
    assert [j.job_id for j in choose.choose(now).decision.start] == ["b1"]

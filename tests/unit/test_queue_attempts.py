"""The runner's attempt features over MemoryRuntime + MemoryStore + FakeClock: durable steps a
retry resumes from, the running context, cancel by `interrupt_turn` (graceful end, forced
end, no turn, an interrupter that fails), stall detection with heartbeats, the bounded
shutdown drain and lifecycle hooks. Handlers block on events the test sets, and time moves
only when the test advances the fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core import JobStalled, Manager, ManagerConfig, RuntimeUnavailable
from codex_manager_core.ports.store import Store
from codex_manager_core.queue.definitions import JobHooks
from codex_manager_core.queue.model import Job, JobState, RunningContext
from codex_manager_core.queue.policies import CancelPolicy, CancelStrategy, RetryPolicy
from codex_manager_core.services.job_context import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 10.0
ONCE = RetryPolicy(max_attempts=1)
AGAIN = RetryPolicy(max_attempts=2, base_delay=0.0)


@attrs.frozen
class Text:
    text: str = ""


@attrs.frozen
class Echoed:
    text: str


@asynccontextmanager
async def open_manager(
    clock: FakeClock, store: Store | None = None, **config: Any
) -> AsyncIterator[Manager]:
    config.setdefault("queue_shutdown_drain", 0.0)
    settings = ManagerConfig(import_user_auth=False, delta_retention=None, **config)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            None,
            store=store or MemoryStore(),
            transport=MemoryRuntime({}),
            config=settings,
            clock=clock,
        ) as manager:
            yield manager


def register(manager: Manager, run: Any, name: str = "work", **options: Any) -> None:
    manager.jobs.job_type(name, payload=Text, result=Echoed, **options)(run)


async def until_running(manager: Manager, job_id: str, started: anyio.Event) -> Job:
    with anyio.fail_after(WAIT):
        await started.wait()
    return await manager.jobs.get(job_id)


async def stored(path: Path, job_id: str) -> Job:
    """The job as the store kept it after the Manager closed."""
    store = SqliteStore(path)
    await store.open()
    try:
        job = await store.get_job(job_id)
    finally:
        await store.close()
    assert job is not None, f"job {job_id} is not in the store"
    return job


# ---------------------------------------------------------------------- steps


async def test_steps_are_durable_and_a_retry_sees_them() -> None:
    seen: list[dict[str, Any]] = []
    async with open_manager(FakeClock()) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            seen.append(dict(ctx.steps))
            if "provisioned" not in ctx.steps:
                await ctx.step("provisioned", {"sessionId": "s1"})
                raise RuntimeUnavailable("the runtime went away")
            await ctx.step("turn_started", {"turnId": "t1"})
            return Echoed("ok")

        register(manager, run, retry=AGAIN)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        done = await manager.jobs.wait(job_id, timeout=WAIT)
        events = await manager.events.read(types=["orchestrator_job_progress"], limit=10)

    assert seen == [{}, {"provisioned": {"sessionId": "s1"}}]
    assert (done.state, done.attempts) == (JobState.COMPLETED, 2)
    assert done.steps == {"provisioned": {"sessionId": "s1"}, "turn_started": {"turnId": "t1"}}
    assert [e.payload["step"] for e in events] == [
        {"name": "provisioned", "data": {"sessionId": "s1"}},
        {"name": "turn_started", "data": {"turnId": "t1"}},
    ]


async def test_a_step_that_is_not_json_fails_the_attempt_and_records_nothing() -> None:
    async with open_manager(FakeClock()) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await ctx.step("bad", {"when": object()})
            return Echoed("unreachable")

        register(manager, run, retry=ONCE)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        done = await manager.jobs.wait(job_id, timeout=WAIT)
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert "cannot be stored as JSON" in done.error
    assert done.steps is None


# ---------------------------------------------------------------------- running context


async def test_the_running_context_is_recorded_and_cleared_at_the_end() -> None:
    recorded = anyio.Event()
    release = anyio.Event()
    async with open_manager(FakeClock()) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await ctx.set_running_context("th1", "tu1")
            recorded.set()
            await release.wait()
            return Echoed("ok")

        register(manager, run)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        running = await until_running(manager, job_id, recorded)
        release.set()
        done = await manager.jobs.wait(job_id, timeout=WAIT)
    assert running.running_context == RunningContext(thread_id="th1", turn_id="tu1")
    assert done.state is JobState.COMPLETED
    assert done.running_context is None


# ---------------------------------------------------------------------- cancel: interrupt_turn


async def _cancel_with(
    clock: FakeClock,
    interrupter: Any,
    *,
    turn: str | None,
    ends_when_interrupted: anyio.Event | None,
    advance: float = 0.0,
) -> tuple[Job, list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    recorded = anyio.Event()
    async with open_manager(clock) as manager:

        async def interrupt(thread_id: str, turn_id: str) -> None:
            calls.append((thread_id, turn_id))
            await interrupter()

        manager.jobs.runner._interrupter = interrupt

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await ctx.set_running_context("th1", turn)
            recorded.set()
            await (ends_when_interrupted or anyio.Event()).wait()
            return Echoed("ended by itself")

        policy = CancelPolicy(strategy=CancelStrategy.INTERRUPT_TURN, graceful_wait=3.0)
        register(manager, run, cancel=policy)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        await until_running(manager, job_id, recorded)
        result: list[Job] = []
        async with anyio.create_task_group() as tasks:

            async def cancel() -> None:
                result.append(await manager.jobs.cancel(job_id))

            tasks.start_soon(cancel)
            if advance:
                await clock.wait_for_deadline(clock.monotonic() + advance)
                clock.advance(advance)
        return result[0], calls


async def test_interrupt_turn_interrupts_and_the_handler_ends_by_itself() -> None:
    interrupted = anyio.Event()

    async def interrupter() -> None:
        interrupted.set()

    job, calls = await _cancel_with(
        FakeClock(), interrupter, turn="tu1", ends_when_interrupted=interrupted
    )
    assert calls == [("th1", "tu1")]
    assert (job.state, job.error, job.result) == (JobState.CANCELED, "canceled", None)
    assert job.running_context is None


async def test_interrupt_turn_forces_the_end_after_the_graceful_wait() -> None:
    async def interrupter() -> None:
        return None

    job, calls = await _cancel_with(
        FakeClock(), interrupter, turn="tu1", ends_when_interrupted=None, advance=3.0
    )
    assert calls == [("th1", "tu1")]
    assert (job.state, job.error) == (JobState.CANCELED, "interrupt_timeout")


async def test_interrupt_turn_without_a_turn_cancels_at_once() -> None:
    async def interrupter() -> None:
        raise AssertionError("no turn: nothing to interrupt")

    job, calls = await _cancel_with(FakeClock(), interrupter, turn=None, ends_when_interrupted=None)
    assert calls == []
    assert (job.state, job.error) == (JobState.CANCELED, "canceled")


async def test_an_interrupter_that_raises_is_logged_and_the_task_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def interrupter() -> None:
        raise RuntimeError("the runtime refused")

    job, calls = await _cancel_with(
        FakeClock(), interrupter, turn="tu1", ends_when_interrupted=None
    )
    assert calls == [("th1", "tu1")]
    assert (job.state, job.error) == (JobState.CANCELED, "canceled")
    assert "could not be interrupted" in caplog.text


# ---------------------------------------------------------------------- stalls


async def test_no_heartbeat_for_the_stall_timeout_fails_the_attempt_as_stalled() -> None:
    clock = FakeClock()
    beat = anyio.Event()
    beaten = anyio.Event()
    attempts: list[int] = []
    async with open_manager(clock) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            nonlocal beat
            attempts.append(ctx.attempt)
            if ctx.attempt > 1:
                return Echoed("second attempt")
            await beat.wait()
            await ctx.heartbeat()
            beaten.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        register(manager, run, stall_timeout=5.0, retry=AGAIN)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        await clock.wait_for_deadline(clock.monotonic() + 5.0)
        clock.advance(4.0)
        beat.set()  # a heartbeat at 4 s: the stall deadline moves to 9 s
        with anyio.fail_after(WAIT):
            await beaten.wait()
        await clock.wait_for_deadline(clock.monotonic() + 1.0)
        clock.advance(1.0)  # 5 s after the start, 1 s after the heartbeat: not stalled
        await clock.wait_for_deadline(clock.monotonic() + 4.0)
        assert (await manager.jobs.get(job_id)).state is JobState.RUNNING
        clock.advance(4.0)
        done = await manager.jobs.wait(job_id, timeout=WAIT)
        queued_again = await manager.events.read(types=["orchestrator_job_queued"], limit=10)

    assert attempts == [1, 2]
    assert (done.state, done.result) == (JobState.COMPLETED, {"text": "second attempt"})
    retry = queued_again[-1].payload
    assert retry["retry"] is True
    assert retry["error"].startswith("JobStalled: ")


async def test_a_stall_without_retries_left_fails_the_job() -> None:
    clock = FakeClock()
    async with open_manager(clock) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        register(manager, run, stall_timeout=2.0, retry=ONCE)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        await clock.wait_for_deadline(clock.monotonic() + 2.0)
        clock.advance(2.0)
        done = await manager.jobs.wait(job_id, timeout=WAIT)
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert done.error.startswith("JobStalled: ")
    assert JobStalled.code == "job_stalled"


# ---------------------------------------------------------------------- shutdown


async def test_the_drain_lets_a_running_job_finish_by_itself(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "manager.sqlite3"
    started = anyio.Event()
    release = anyio.Event()
    async with (
        anyio.create_task_group() as tasks,
        open_manager(clock, SqliteStore(path), queue_shutdown_drain=2.0) as manager,
    ):

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            started.set()
            await release.wait()
            return Echoed("finished while closing")

        register(manager, run)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        await until_running(manager, job_id, started)

        async def finish_during_the_drain() -> None:
            await clock.wait_for_deadline(clock.monotonic() + 2.0)
            release.set()

        tasks.start_soon(finish_during_the_drain)
    job = await stored(path, job_id)
    assert (job.state, job.result) == (JobState.COMPLETED, {"text": "finished while closing"})


async def test_the_drain_gives_back_a_job_that_does_not_end_in_time(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "manager.sqlite3"
    started = anyio.Event()
    async with (
        anyio.create_task_group() as tasks,
        open_manager(clock, SqliteStore(path), queue_shutdown_drain=2.0) as manager,
    ):

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await ctx.step("oriented", {"turnId": "t0"})
            started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        register(manager, run)
        job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
        await until_running(manager, job_id, started)

        async def advance_during_the_drain() -> None:
            await clock.wait_for_deadline(clock.monotonic() + 2.0)
            clock.advance(2.0)

        tasks.start_soon(advance_during_the_drain)
    job = await stored(path, job_id)
    assert (job.state, job.attempts, job.error) == (JobState.QUEUED, 0, None)
    assert job.steps == {"oriented": {"turnId": "t0"}}
    assert job.running_context is None


# ---------------------------------------------------------------------- hooks


async def test_hooks_are_told_after_each_transition_and_a_failing_hook_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[tuple[str, str, JobState]] = []

    def hook(name: str, fail: bool = False) -> Any:
        async def tell(job: Job) -> None:
            told.append((name, job.payload["text"], job.state))
            if fail:
                raise RuntimeError(f"{name} hook broke")

        return tell

    hooks = JobHooks(
        on_queued=hook("queued"),
        on_started=hook("started", fail=True),
        on_completed=hook("completed", fail=True),
        on_failed=hook("failed"),
        on_canceled=hook("canceled"),
    )
    blocker = anyio.Event()
    async with open_manager(FakeClock()) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            if payload.text == "fail":
                raise ValueError("a bug")
            if payload.text == "block":
                await blocker.wait()
            return Echoed(payload.text)

        register(manager, run, hooks=hooks, retry=ONCE)
        ok = (await manager.jobs.enqueue("work", {"text": "ok"}, owner="p1")).job
        done = await manager.jobs.wait(ok.job_id, timeout=WAIT)
        bad = (await manager.jobs.enqueue("work", {"text": "fail"}, owner="p1")).job
        failed = await manager.jobs.wait(bad.job_id, timeout=WAIT)
        await manager.jobs.enqueue("work", {"text": "block"}, owner="p2")
        queued = (await manager.jobs.enqueue("work", {"text": "queued"}, owner="p2")).job
        canceled = await manager.jobs.cancel(queued.job_id)
        blocker.set()

    assert (done.state, failed.state, canceled.state) == (
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELED,
    )
    assert ("queued", "ok", JobState.QUEUED) in told
    assert ("started", "ok", JobState.RUNNING) in told
    assert ("completed", "ok", JobState.COMPLETED) in told
    assert ("failed", "fail", JobState.FAILED) in told
    assert ("canceled", "queued", JobState.CANCELED) in told
    assert told.index(("started", "ok", JobState.RUNNING)) < told.index(
        ("completed", "ok", JobState.COMPLETED)
    )
    assert "started hook broke" in caplog.text


# ---------------------------------------------------------------------- retention


async def test_retention_trims_in_the_ending_write_also_for_a_canceled_queued_job() -> None:
    clock = FakeClock()
    release = anyio.Event()
    async with open_manager(clock, queue_retained_per_owner=2) as manager:

        async def run(ctx: JobContext, payload: Text) -> Echoed:
            if payload.text == "block":
                await release.wait()
            return Echoed(payload.text)

        register(manager, run)
        ids = []
        for n in range(3):
            clock.advance(1.0)  # distinct created_at: "oldest" is well defined
            job_id = (await manager.jobs.enqueue("work", {"text": str(n)}, owner="p1")).job.job_id
            await manager.jobs.wait(job_id, timeout=WAIT)
            ids.append(job_id)
        clock.advance(1.0)
        blocker = (await manager.jobs.enqueue("work", {"text": "block"}, owner="p1")).job.job_id
        clock.advance(1.0)
        queued = (await manager.jobs.enqueue("work", {"text": "q"}, owner="p1")).job.job_id
        await manager.jobs.cancel(queued)
        after_cancel = [job.job_id for job in (await manager.jobs.list(owner="p1")).items]
        release.set()
        await manager.jobs.wait(blocker, timeout=WAIT)
        after_end = [job.job_id for job in (await manager.jobs.list(owner="p1")).items]
    # Newest first; the two newest terminal jobs kept (the blocker is still running).
    assert after_cancel == [queued, blocker, ids[2]]
    assert after_end == [queued, blocker]


async def test_the_manager_interrupts_a_job_turn_through_the_runtime() -> None:
    interrupted = anyio.Event()
    recorded = anyio.Event()

    def turn_interrupt(params: Any) -> Any:
        interrupted.set()
        return {}

    def thread_start(params: Any) -> Any:
        thread = {"id": "worker-thread", "cwd": params["cwd"], "status": {"type": "idle"}}
        return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}

    runtime = MemoryRuntime({"turn/interrupt": turn_interrupt, "thread/start": thread_start})
    settings = ManagerConfig(import_user_auth=False, delta_retention=None, queue_shutdown_drain=0.0)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            None, store=MemoryStore(), transport=runtime, config=settings, clock=FakeClock()
        ) as manager:
            worker = (await manager.sessions.create(system_owned=True)).session_id

            async def run(ctx: JobContext, payload: Text) -> Echoed:
                await ctx.set_running_context(worker, "turn-7")
                recorded.set()
                await interrupted.wait()  # the turn ends interrupted: the handler returns
                return Echoed("interrupted")

            register(manager, run)
            job_id = (await manager.jobs.enqueue("work", {}, owner="p1")).job.job_id
            await until_running(manager, job_id, recorded)
            canceled = await manager.jobs.cancel(job_id)
    calls = [call.params for call in runtime.calls if call.method == "turn/interrupt"]
    assert calls == [{"threadId": worker, "turnId": "turn-7"}]
    assert (canceled.state, canceled.error) == (JobState.CANCELED, "canceled")

"""`manager.jobs` and the job runner over MemoryRuntime + MemoryStore + FakeClock: enqueue to
completion with its events, validation, capacity, the dedupe modes, retries with backoff,
fatal errors, timeouts, cancel, wait, scheduling under load, recovery at start (SQLite, a
reopened data directory) and retention. Handlers block on events the test sets, and time
moves only when the test advances the fake clock: nothing sleeps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core import (
    Conflict,
    Event,
    InvalidInput,
    Manager,
    ManagerConfig,
    NotFound,
    QueueFull,
    RuntimeUnavailable,
    TimedOut,
)
from codex_manager_core.ports.store import PutJob
from codex_manager_core.queue.definitions import JobType
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.policies import DedupeMode, DedupePolicy, RetryPolicy
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 10.0


@attrs.frozen
class Text:
    text: str
    key: str = "k"
    items: tuple[str, ...] = ()


@attrs.frozen
class Echoed:
    text: str


def echo_type(name: str = "echo", **options: Any) -> Callable[..., Any]:
    """A decorator registering a handler as a Text -> Echoed job type."""
    return lambda manager: manager.jobs.job_type(name, payload=Text, result=Echoed, **options)


@asynccontextmanager
async def open_manager(
    clock: FakeClock, data_dir: Path | None = None, **config: Any
) -> AsyncIterator[Manager]:
    # No drain unless a test asks: a handler left blocked at the end is stopped at once
    # (the drain itself is tested with the clock advanced during the close).
    config.setdefault("queue_shutdown_drain", 0.0)
    settings = ManagerConfig(import_user_auth=False, delta_retention=None, **config)
    store = None if data_dir is not None else MemoryStore()
    with anyio.fail_after(WAIT):
        async with Manager.open(
            data_dir, store=store, transport=MemoryRuntime({}), config=settings, clock=clock
        ) as manager:
            yield manager


async def job_events(manager: Manager, job_id: str) -> list[Event]:
    events = await manager.events.read(types=["orchestrator_job_"], limit=1000)
    return [e for e in events if e.payload["jobId"] == job_id]


async def until_event(manager: Manager, type_: str, match: Callable[[Event], bool]) -> Event:
    async with manager.events.subscribe(types=[type_], since=0) as events:
        async for event in events:
            if isinstance(event, Event) and match(event):
                return event
    raise AssertionError(f"no {type_} event matched")


# ---------------------------------------------------------------------- a job's life


async def test_a_job_runs_to_completion_with_its_events_and_progress() -> None:
    async with open_manager(FakeClock()) as manager:

        @echo_type()(manager)
        async def run(ctx: JobContext, payload: Text) -> Echoed:
            assert (ctx.attempt, ctx.owner, ctx.manager) == (1, "p1", manager)
            await ctx.progress({"step": 1})
            return Echoed(payload.text.upper())

        enqueued = await manager.jobs.enqueue(
            "echo", {"text": "hi"}, owner="p1", source_session_id="s1"
        )
        assert enqueued.outcome == "enqueued"
        # Nothing waited and a slot was free: queued and started in the enqueue's write.
        assert enqueued.job.state is JobState.RUNNING
        assert enqueued.job.attempts == 1
        done = await manager.jobs.wait(enqueued.job.job_id)
        events = await job_events(manager, done.job_id)

    assert done.state is JobState.COMPLETED
    assert done.result == {"text": "HI"}
    assert done.progress == {"step": 1}
    assert (done.attempts, done.max_attempts) == (1, 2)
    assert done.started_at is not None
    assert done.completed_at is not None
    assert [e.type for e in events] == [
        "orchestrator_job_queued",
        "orchestrator_job_started",
        "orchestrator_job_progress",
        "orchestrator_job_completed",
    ]
    assert {e.thread_id for e in events} == {"s1"}
    assert events[-1].payload == {
        "jobId": done.job_id,
        "projectId": "p1",
        "jobType": "echo",
        "state": "completed",
        "sourceSessionId": "s1",
        "result": {"text": "HI"},
        "progress": {"step": 1},
    }


async def test_an_invalid_payload_is_refused_naming_the_field_and_writes_nothing() -> None:
    async with open_manager(FakeClock()) as manager:
        echo_type()(manager)(_never)
        with pytest.raises(InvalidInput) as caught:
            await manager.jobs.enqueue("echo", {"key": "k"}, owner="p1")
        with pytest.raises(InvalidInput) as unknown:
            await manager.jobs.enqueue("echo", {"txt": "hi"}, owner="p1")
        assert (await manager.jobs.list()).items == ()
    assert caught.value.code == "invalid_request"
    assert caught.value.issues == [{"path": ["text"], "message": "required"}]
    assert {tuple(issue["path"]) for issue in unknown.value.issues} == {("text",), ("txt",)}


async def _never(ctx: JobContext, payload: Text) -> Echoed:
    await anyio.Event().wait()
    raise AssertionError("unreachable")


async def test_enqueue_past_capacity_raises_queue_full() -> None:
    async with open_manager(FakeClock(), queue_max_per_owner=2, queue_max_total=3) as manager:
        echo_type()(manager)(_never)
        for _ in range(2):
            await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        with pytest.raises(QueueFull) as per_owner:
            await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        await manager.jobs.enqueue("echo", {"text": "b"}, owner="p2")
        with pytest.raises(QueueFull) as total:
            await manager.jobs.enqueue("echo", {"text": "c"}, owner="p3")
        assert (await manager.jobs.counts())[JobState.CANCELED] == 0
    assert per_owner.value.code == "queue_full"
    assert "max_per_owner" in per_owner.value.message
    assert "max_total" in total.value.message


# ---------------------------------------------------------------------- dedupe


async def test_each_dedupe_mode_through_enqueue() -> None:
    release = anyio.Event()
    started = anyio.Event()
    seen: list[tuple[str, tuple[str, ...]]] = []

    async with open_manager(FakeClock()) as manager:

        @echo_type("blocker")(manager)
        async def block(ctx: JobContext, payload: Text) -> Echoed:
            started.set()
            await release.wait()
            return Echoed("unblocked")

        async def record(ctx: JobContext, payload: Text) -> Echoed:
            seen.append((payload.text, payload.items))
            return Echoed(payload.text)

        def by_key(payload: Text) -> str:
            return payload.key

        def merge(queued: Text, new: Text) -> Text:
            return attrs.evolve(queued, items=queued.items + new.items)

        for mode, extra in (
            (DedupeMode.SINGLE_FLIGHT, {}),
            (DedupeMode.DROP_DUPLICATE, {}),
            (DedupeMode.MERGE_DUPLICATE, {"merge": merge}),
        ):
            policy = DedupePolicy(mode=mode, key=by_key, **extra)
            echo_type(mode.value, dedupe=policy)(manager)(record)

        # The owner is busy, so every job below stays queued until the blocker ends.
        blocker = await manager.jobs.enqueue("blocker", {"text": "x"}, owner="p1")
        with anyio.fail_after(WAIT):
            await started.wait()
        outcomes: dict[str, list[tuple[str, str]]] = {}
        for mode in ("single_flight", "drop_duplicate", "merge_duplicate"):
            first = await manager.jobs.enqueue(mode, {"text": mode, "items": ["a"]}, owner="p1")
            second = await manager.jobs.enqueue(mode, {"text": mode, "items": ["b"]}, owner="p1")
            other = await manager.jobs.enqueue(
                mode, {"text": mode, "key": "other", "items": ["c"]}, owner="p1"
            )
            outcomes[mode] = [
                (first.outcome, first.job.job_id),
                (second.outcome, second.job.job_id),
                (other.outcome, other.job.job_id),
            ]
        release.set()
        for pairs in outcomes.values():
            for _, job_id in pairs:
                assert (await manager.jobs.wait(job_id)).state is JobState.COMPLETED
        assert (await manager.jobs.wait(blocker.job.job_id)).state is JobState.COMPLETED

    for mode, pairs in outcomes.items():
        (o1, id1), (o2, id2), (o3, id3) = pairs
        expected = {"single_flight": "joined", "drop_duplicate": "dropped"}.get(mode, "merged")
        assert (o1, o2, o3) == ("enqueued", expected, "enqueued"), mode
        assert id2 == id1, mode
        assert id3 != id1, mode
    assert sorted(seen) == sorted(
        [
            ("single_flight", ("a",)),
            ("single_flight", ("c",)),
            ("drop_duplicate", ("a",)),
            ("drop_duplicate", ("c",)),
            ("merge_duplicate", ("a", "b")),
            ("merge_duplicate", ("c",)),
        ]
    )


# ---------------------------------------------------------------------- failures


async def test_a_retryable_failure_is_retried_after_its_backoff_then_succeeds() -> None:
    clock = FakeClock()
    calls: list[int] = []
    async with open_manager(clock) as manager:
        retry = RetryPolicy(max_attempts=3, base_delay=10.0, jitter=0.0)

        @echo_type(retry=retry)(manager)
        async def flaky(ctx: JobContext, payload: Text) -> Echoed:
            calls.append(ctx.attempt)
            if ctx.attempt == 1:
                raise RuntimeUnavailable("the runtime is restarting")
            return Echoed("ok")

        enqueued = await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        job_id = enqueued.job.job_id
        with anyio.fail_after(WAIT):
            retried = await until_event(
                manager,
                "orchestrator_job_queued",
                lambda e: e.payload["jobId"] == job_id and e.payload.get("retry") is True,
            )
            between = await manager.jobs.get(job_id)
            await clock.wait_for_deadline(clock.monotonic() + 10.0)
        assert calls == [1]
        clock.advance(10.0)
        done = await manager.jobs.wait(job_id)
        types = [e.type for e in await job_events(manager, job_id)]

    assert retried.payload["state"] == "queued"
    assert "RuntimeUnavailable" in retried.payload["error"]
    assert between.state is JobState.QUEUED
    assert between.next_attempt_at is not None
    assert between.last_attempt_at is not None
    assert (between.next_attempt_at - between.last_attempt_at).total_seconds() == 10.0
    assert calls == [1, 2]
    assert (done.state, done.attempts, done.result) == (JobState.COMPLETED, 2, {"text": "ok"})
    assert types == [
        "orchestrator_job_queued",
        "orchestrator_job_started",
        "orchestrator_job_queued",
        "orchestrator_job_started",
        "orchestrator_job_completed",
    ]


async def test_a_fatal_error_fails_the_job_at_once() -> None:
    async with open_manager(FakeClock()) as manager:

        @echo_type(retry=RetryPolicy(max_attempts=5))(manager)
        async def broken(ctx: JobContext, payload: Text) -> Echoed:
            raise ValueError("boom")

        enqueued = await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        done = await manager.jobs.wait(enqueued.job.job_id)
        events = await job_events(manager, done.job_id)
    assert (done.state, done.attempts, done.error) == (JobState.FAILED, 1, "ValueError: boom")
    assert [e.type for e in events][-1] == "orchestrator_job_failed"
    assert events[-1].payload["error"] == "ValueError: boom"


async def test_a_timeout_is_retried_then_fails() -> None:
    clock = FakeClock()
    async with open_manager(clock) as manager:
        retry = RetryPolicy(max_attempts=2, base_delay=1.0, jitter=0.0)
        echo_type(retry=retry, timeout=5.0)(manager)(_never)
        enqueued = await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        job_id = enqueued.job.job_id
        with anyio.fail_after(WAIT):
            for step in (5.0, 1.0, 5.0):  # attempt 1 times out, the backoff, attempt 2
                await clock.wait_for_deadline(clock.monotonic() + step)
                clock.advance(step)
            done = await manager.jobs.wait(job_id)
    assert (done.state, done.attempts) == (JobState.FAILED, 2)
    assert done.error is not None
    assert done.error.startswith("TimedOut: ")
    assert "within 5 s" in done.error


# ---------------------------------------------------------------------- cancel and wait


async def test_cancel_a_queued_job_then_a_running_one() -> None:
    started = anyio.Event()
    async with open_manager(FakeClock()) as manager:

        @echo_type()(manager)
        async def block(ctx: JobContext, payload: Text) -> Echoed:
            started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        running = await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")
        with anyio.fail_after(WAIT):
            await started.wait()
        queued = await manager.jobs.enqueue("echo", {"text": "b"}, owner="p1")

        canceled_queued = await manager.jobs.cancel(queued.job.job_id)
        canceled_running = await manager.jobs.cancel(running.job.job_id)
        with pytest.raises(Conflict) as again:
            await manager.jobs.cancel(running.job.job_id)
        queued_types = [e.type for e in await job_events(manager, queued.job.job_id)]
        running_types = [e.type for e in await job_events(manager, running.job.job_id)]
        assert (await manager.jobs.counts("p1"))[JobState.CANCELED] == 2

    assert canceled_queued.state is JobState.CANCELED
    assert canceled_queued.attempts == 0
    assert queued_types == ["orchestrator_job_queued", "orchestrator_job_canceled"]
    assert canceled_running.state is JobState.CANCELED
    assert canceled_running.cancel_requested_at is not None
    assert running_types[-1] == "orchestrator_job_canceled"
    assert again.value.code == "already_terminal"


async def test_wait_returns_on_completion_and_times_out_on_the_clock() -> None:
    clock = FakeClock()
    release = anyio.Event()
    results: dict[str, Any] = {}
    timed_out = anyio.Event()
    async with open_manager(clock) as manager:

        @echo_type()(manager)
        async def block(ctx: JobContext, payload: Text) -> Echoed:
            await release.wait()
            return Echoed(payload.text)

        # The runtime's handshake sleeps on the fake clock until 30 s (initialize_timeout)
        # while it runs: let it end, so the only deadline at 30 s below is wait's.
        await manager.runtime.wait_ready(WAIT)
        job_id = (await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")).job.job_id

        async def waits_long() -> None:
            results["job"] = await manager.jobs.wait(job_id)

        async def waits_briefly() -> None:
            with pytest.raises(TimedOut) as caught:
                await manager.jobs.wait(job_id, timeout=30.0)
            results["timeout"] = caught.value
            timed_out.set()

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(waits_long)
                tasks.start_soon(waits_briefly)
                await clock.wait_for_deadline(30.0)
                clock.advance(30.0)
                await timed_out.wait()
                assert "job" not in results
                release.set()
        with pytest.raises(NotFound) as missing:
            await manager.jobs.get("job_missing")
    assert missing.value.code == "job_not_found"
    assert results["job"].state is JobState.COMPLETED
    assert job_id in str(results["timeout"])


# ---------------------------------------------------------------------- scheduling


async def test_fifty_jobs_over_five_owners_hold_the_limits_and_none_starves() -> None:
    send, receive = anyio.create_memory_object_stream[tuple[str, str]](100)
    releases: defaultdict[str, anyio.Event] = defaultdict(anyio.Event)
    running: list[str] = []
    peak = 0

    async with open_manager(FakeClock(), queue_concurrency=2) as manager:

        @echo_type()(manager)
        async def work(ctx: JobContext, payload: Text) -> Echoed:
            nonlocal peak
            assert ctx.owner not in running, "two jobs of one owner ran at once"
            running.append(ctx.owner)
            peak = max(peak, len(running))
            try:
                await send.send((ctx.job_id, ctx.owner))
                await releases[ctx.job_id].wait()
            finally:
                running.remove(ctx.owner)
            return Echoed(payload.text)

        ids = [
            (await manager.jobs.enqueue("echo", {"text": str(n)}, owner=f"p{n % 5}")).job.job_id
            for n in range(50)
        ]
        order: list[str] = []
        held: list[tuple[str, str]] = []
        with anyio.fail_after(WAIT):
            for _ in range(50):
                job_id, owner = await receive.receive()
                order.append(owner)
                held.append((job_id, owner))
                assert len(running) <= 2
                # Release the older job when both slots are taken, or when nothing else
                # could start (what is queued belongs to the owner still held).
                queued = (await manager.jobs.list(states=["queued"], limit=1000)).items
                held_owners = {owner for _, owner in held}
                if len(held) == 2 or not {job.owner for job in queued} - held_owners:
                    releases[held.pop(0)[0]].set()
            for job_id, _ in held:
                releases[job_id].set()
            done = [await manager.jobs.wait(job_id) for job_id in ids]

    assert all(job.state is JobState.COMPLETED for job in done)
    assert peak == 2
    owners = [f"p{n}" for n in range(5)]
    assert all(order.count(owner) == 10 for owner in owners)
    # Fair rotation: no owner waits for another's whole backlog; every owner starts a job
    # within every window of 5 starts.
    assert set(order[:5]) == set(owners)
    for start in range(0, 50, 5):
        assert set(order[start : start + 5]) == set(owners), order


# ---------------------------------------------------------------------- recovery and retention


async def test_a_job_running_at_shutdown_is_given_back_and_completes_once(tmp_path: Path) -> None:
    started = anyio.Event()
    completions: list[int] = []

    async with open_manager(FakeClock(), tmp_path / "data") as manager:

        @echo_type()(manager)
        async def interrupted(ctx: JobContext, payload: Text) -> Echoed:
            started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        job_id = (await manager.jobs.enqueue("echo", {"text": "a"}, owner="p1")).job.job_id
        with anyio.fail_after(WAIT):
            await started.wait()

    async with open_manager(FakeClock(), tmp_path / "data") as manager:
        recovered = await manager.jobs.get(job_id)

        @echo_type()(manager)
        async def resumed(ctx: JobContext, payload: Text) -> Echoed:
            completions.append(ctx.attempt)
            return Echoed("done")

        done = await manager.jobs.wait(job_id)
        types = [e.type for e in await job_events(manager, job_id)]
        assert (await manager.jobs.counts())[JobState.RUNNING] == 0

    # A clean close wrote it back to queued, its attempt given back (not a failure).
    assert recovered.state is JobState.QUEUED
    assert recovered.attempts == 0
    assert (done.state, done.attempts, done.result) == (JobState.COMPLETED, 1, {"text": "done"})
    assert completions == [1]
    assert types.count("orchestrator_job_completed") == 1
    assert types == [
        "orchestrator_job_queued",
        "orchestrator_job_started",
        "orchestrator_job_queued",  # given back at shutdown
        "orchestrator_job_started",
        "orchestrator_job_completed",
    ]


async def test_recovery_fails_unknown_types_past_the_grace_and_invalid_payloads(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    stored = Job(
        job_id="job_ghost",
        type="ghost",
        version=1,
        owner="p1",
        priority=JobPriority.BACKGROUND,
        state=JobState.QUEUED,
        payload={"text": "a"},
        created_at=clock.utcnow(),
    )
    bad = attrs.evolve(stored, job_id="job_bad", type="echo", owner="p2", payload={"x": 1})
    late = attrs.evolve(stored, job_id="job_late", type="late", owner="p3")
    # Jobs a previous run left queued, of types this run has not registered yet.
    async with open_manager(clock, tmp_path) as manager:
        await manager.context.write([PutJob(stored), PutJob(bad), PutJob(late)])
    async with open_manager(clock, tmp_path, queue_unknown_type_grace=30.0) as manager:
        await manager.runtime.wait_ready(WAIT)
        # Users register after open, after an await or two: nothing is judged meanwhile.
        assert (await manager.jobs.get("job_ghost")).state is JobState.QUEUED
        manager.jobs.register(JobType(type="echo", payload=Text, result=Echoed, run=_never))
        invalid = await manager.jobs.wait("job_bad")

        @echo_type("late")(manager)
        async def late_run(ctx: JobContext, payload: Text) -> Echoed:
            return Echoed(payload.text)

        ran = await manager.jobs.wait("job_late")
        assert (await manager.jobs.get("job_ghost")).state is JobState.QUEUED
        # The runner sleeps until the grace is over (the clock has not moved since open).
        await clock.wait_for_deadline(clock.monotonic() + 30.0)
        clock.advance(30.0)
        ghost = await manager.jobs.wait("job_ghost")
    assert (ghost.state, ghost.error) == (JobState.FAILED, "recovery_unknown_job_type:ghost")
    assert invalid.state is JobState.FAILED
    assert invalid.error is not None
    assert invalid.error.startswith("recovery_invalid_payload:")
    assert (ran.state, ran.result) == (JobState.COMPLETED, {"text": "a"})


async def test_retention_keeps_the_newest_terminal_jobs_per_owner() -> None:
    clock = FakeClock()
    async with open_manager(clock, queue_retained_per_owner=3) as manager:

        @echo_type()(manager)
        async def quick(ctx: JobContext, payload: Text) -> Echoed:
            return Echoed(payload.text)

        ids = []
        for n in range(5):
            clock.advance(1.0)  # distinct created_at: "oldest" is well defined
            job_id = (await manager.jobs.enqueue("echo", {"text": str(n)}, owner="p1")).job.job_id
            await manager.jobs.wait(job_id)
            ids.append(job_id)
        other = (await manager.jobs.enqueue("echo", {"text": "o"}, owner="p2")).job.job_id
        await manager.jobs.wait(other)
        kept = [job.job_id for job in (await manager.jobs.list(owner="p1")).items]
        others = [job.job_id for job in (await manager.jobs.list(owner="p2")).items]
    assert kept == ids[:1:-1]
    assert others == [other]


async def test_a_job_starts_in_its_enqueue_only_when_nothing_waits_and_a_slot_is_free() -> None:
    release = anyio.Event()
    async with open_manager(FakeClock(), queue_concurrency=2) as manager:

        @echo_type()(manager)
        async def block(ctx: JobContext, payload: Text) -> Echoed:
            await release.wait()
            return Echoed(payload.text)

        first = await manager.jobs.enqueue("echo", {"text": "1"}, owner="p1")
        same_owner = await manager.jobs.enqueue("echo", {"text": "2"}, owner="p1")
        # p1's second job waits: a new owner must not pass it by starting in its enqueue.
        behind = await manager.jobs.enqueue("echo", {"text": "3"}, owner="p2")
        states = (first.job.state, same_owner.job.state, behind.job.state)
        events = await job_events(manager, first.job.job_id)
        release.set()
        done = [await manager.jobs.wait(e.job.job_id) for e in (first, same_owner, behind)]
    assert states == (JobState.RUNNING, JobState.QUEUED, JobState.QUEUED)
    queued, started = events[0], events[1]
    assert (queued.type, started.type) == ("orchestrator_job_queued", "orchestrator_job_started")
    assert started.seq == queued.seq + 1, "queued and started in one write"
    assert all(job.state is JobState.COMPLETED for job in done)


async def test_waiting_for_an_ended_job_answers_the_stored_record() -> None:
    """A job that ended in this process is answered from memory: the same record the store
    holds (progress, steps, result and times included)."""
    async with open_manager(FakeClock()) as manager:

        @echo_type()(manager)
        async def run(ctx: JobContext, payload: Text) -> Echoed:
            await ctx.progress({"at": 1})
            await ctx.step("half", {"done": True})
            return Echoed(payload.text)

        job_id = (await manager.jobs.enqueue("echo", {"text": "x"}, owner="p1")).job.job_id
        first = await manager.jobs.wait(job_id)
        again = await manager.jobs.wait(job_id)
        stored = await manager.jobs.get(job_id)
    assert first == again == stored
    assert stored.steps == {"half": {"done": True}}

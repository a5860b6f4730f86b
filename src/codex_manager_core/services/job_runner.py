"""The job runner: takes queued jobs as the scheduler chooses them, runs each job type's
handler with the type's timeout (and stall watch), and writes how the attempt ended
(completed, retried with backoff, failed, canceled), each as one write with its event.

One runner per Manager, a background task of `Manager._run`. It is event driven: its pass
chooses again when woken (an enqueue while a slot is free, a slot left free, a cancel, a
job type registered) or when the scheduler's `wake_at` (a retry's backoff) comes, on the
Manager's Clock, so tests drive it with `FakeClock`. While the queue has work, a slot
mostly never goes back to the pass: the end of an attempt (completed, failed, canceled)
hands its slot over, choosing the next job by the same rules (`job_choice`), writing its
end and that start in one write and running the next attempt in the same task. That is
the queue's throughput: per job one write, no task and no pass.

Recovery at start (`recover`, before the loop): a job left `running` by a previous
process is queued again, or failed with `recovery_max_attempts_exceeded` when its attempts
are used up. Job types are checked lazily, when the runner would start a job: users
register their types after `Manager.open` returns (the built-in ones are registered before),
so an eager check at start would fail every job of theirs. For `queue_unknown_type_grace`
seconds after start, a queued job whose type is not registered waits (it is not chosen, so
it holds neither a slot nor its owner); registering its type wakes the runner. Past the
grace it fails with `recovery_unknown_job_type:<type>`. A job whose stored payload no
longer fits its type fails with `recovery_invalid_payload:<reason>`.

Shutdown (`drain`, called by the Manager as it closes): no job starts any more; running
attempts get `queue_shutdown_drain` seconds to end by themselves, then are cancelled and
their jobs written back to `queued` with the attempt given back, so a clean shutdown
leaves nothing `running`. Only a crash leaves running jobs, which recovery re-queues (a
job runs at least once; a handler that must not repeat work records its steps).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.abc

from codex_manager_core.errors import InvalidInput, JobStalled, StoreConflict, TimedOut
from codex_manager_core.queue.definitions import JobType, JobTypes
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.queue.policies import CancelStrategy
from codex_manager_core.queue.scheduler import QueueLimits
from codex_manager_core.services import job_events, job_recovery
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.job_choice import JobChooser
from codex_manager_core.services.job_context import (
    Attempt,
    Interrupter,
    JobContext,
    StopReason,
)
from codex_manager_core.services.job_recorder import AttemptRecorder, call_hook

logger = logging.getLogger("codex_manager_core.queue")

RUNNING = (JobState.RUNNING,)
_ALL = 2**62
"""`queued_jobs`'s limit when loading the index: all of them."""
_FORCED_END_GRACE = 5.0
"""Seconds (of the Manager's clock) the attempts cancelled at shutdown get to write their
end; only a store that refuses writes makes them take that long."""


class JobRunner:
    def __init__(
        self,
        ctx: ServiceContext,
        types: JobTypes,
        manager: Any,
        interrupter: Interrupter | None = None,
    ) -> None:
        self._ctx = ctx
        self._types = types
        self._manager = manager
        self._interrupter = interrupter
        """Interrupts a worker's turn (cancel strategy `interrupt_turn`); None: cancel at once."""
        self._wakeup = anyio.Event()
        self._attempts: dict[str, Attempt] = {}
        self._ended: anyio.Event | None = None
        """Set (and dropped) when an attempt ends, if `drain` waits on it (made by the
        waiter: not one per job)."""
        self._tasks: anyio.abc.TaskGroup | None = None
        self._stopping = False
        self._rng = random.Random()
        self.index = QueueIndex()
        """The live jobs, shared with the service (loaded by `recover`)."""
        self._recorder = AttemptRecorder(ctx, self.index, self._attempts)
        self.retention = job_events.Retention()
        config = ctx.config
        self.limits = QueueLimits(
            concurrency=config.queue_concurrency,
            max_per_owner=config.queue_max_per_owner,
            max_total=config.queue_max_total,
            background_aging=config.queue_background_aging,
        )
        self._chooser = JobChooser(self.index, types, self.limits)

    def wake(self) -> None:
        """Choose again soon (something changed)."""
        self._wakeup.set()

    def enqueued(self) -> None:
        """A job was queued: choose again if a slot is free. While none is, there is
        nothing to choose: the end of each attempt hands its slot to the next job or, with
        none to hand it to, wakes the runner."""
        if not self._chooser.full():
            self._wakeup.set()

    def cancel(self, job_id: str) -> bool:
        """Cancel the running attempt of `job_id` in this process (False: none runs here).

        `interrupt_turn` with a turn in the job's running context: the turn is interrupted
        and the handler gets the type's `graceful_wait` to end by itself before its task is
        cancelled (`interrupt_timeout`); otherwise the task is cancelled at once."""
        attempt = self._attempts.get(job_id)
        if attempt is None:
            return False
        if attempt.stop is not None:
            return True  # already being stopped
        attempt.request_stop(StopReason.CANCELED)
        job = self.index.get(job_id)
        context = None if job is None else job.running_context
        if (
            attempt.job_type.cancel.strategy is CancelStrategy.INTERRUPT_TURN
            and context is not None
            and context.thread_id is not None
            and context.turn_id is not None
            and self._interrupter is not None
            and self._tasks is not None
        ):
            self._tasks.start_soon(
                self._interrupt, attempt, context.thread_id, context.turn_id, name="interrupt"
            )
        else:
            attempt.scope.cancel()
        return True

    async def _interrupt(self, attempt: Attempt, thread_id: str, turn_id: str) -> None:
        assert self._interrupter is not None
        with self._ctx.clock.move_on_after(attempt.job_type.cancel.graceful_wait):
            try:
                await self._interrupter(thread_id, turn_id)
            except Exception:
                logger.exception(
                    "job %s: its turn %s could not be interrupted", attempt.job_id, turn_id
                )
                attempt.scope.cancel()
                return
            await attempt.done.wait()
        if not attempt.done.is_set():
            attempt.stop = StopReason.INTERRUPT_TIMEOUT
            attempt.scope.cancel()

    async def drain(self, seconds: float) -> None:
        """Shutdown: start nothing more; give the running attempts `seconds` to end by
        themselves, then cancel them (their jobs go back to queued)."""
        self._stopping = True
        self.wake()
        if self._attempts:
            with self._ctx.clock.move_on_after(seconds):
                await self._all_ended()
        for attempt in list(self._attempts.values()):
            attempt.request_stop(StopReason.SHUTDOWN)  # a cancel under way stands
            attempt.scope.cancel()
        with self._ctx.clock.move_on_after(_FORCED_END_GRACE):
            await self._all_ended()

    async def _all_ended(self) -> None:
        while self._attempts:
            if self._ended is None:
                self._ended = anyio.Event()
            await self._ended.wait()

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> None:
        """Re-queue (or fail) the jobs a previous process left running."""
        await job_recovery.recover(self._ctx, self.index, self._attempts)

    # ------------------------------------------------------------------ the loop

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self.recover()
        grace = timedelta(seconds=self._ctx.config.queue_unknown_type_grace)
        self._chooser.grace_until = self._ctx.now() + grace
        async with anyio.create_task_group() as tasks:
            task_status.started()
            reloaded = False
            while True:
                # A fresh event before reading: a wake-up during this pass is not lost.
                self._wakeup = anyio.Event()
                try:
                    if not reloaded:
                        # Jobs written to the store directly since `recover` (not through
                        # the queue: an import, a test) are seen by the first choice, as
                        # they were when every pass read the store.
                        self.index.begin_reload()
                        self.index.reload_queued(await self._ctx.store.queued_jobs(_ALL))
                        reloaded = True
                    wake_at = await self._pass(tasks)
                except Exception:
                    # The store refused (disk full, ...): the jobs stay where they are;
                    # choose again on the next wake-up, or in a second.
                    logger.exception("the job runner could not choose the next jobs")
                    wake_at = self._ctx.now() + timedelta(seconds=1.0)
                delay = None if wake_at is None else (wake_at - self._ctx.now()).total_seconds()
                with self._ctx.clock.move_on_after(delay):
                    await self._wakeup.wait()

    async def _pass(self, tasks: anyio.abc.TaskGroup) -> datetime | None:
        self._tasks = tasks
        if self._stopping:
            return None
        chooser = self._chooser
        if chooser.full():
            # No slot is free: nothing could start (an enqueue woke us). The end of an
            # attempt wakes the runner again, or hands its slot to the next job itself.
            return None
        choice = chooser.choose(self._ctx.now())
        decision = choice.decision
        for job, job_type, payload in await self._start(decision.start):
            tasks.start_soon(self._attempt, job, job_type, payload, name=f"job {job.job_id}")
        if choice.held and chooser.grace_until is not None:
            # Once the grace is over, the jobs of types nobody registered are failed.
            return min(filter(None, (decision.wake_at, chooser.grace_until)))
        return decision.wake_at

    async def _start(self, jobs: Sequence[Job]) -> list[tuple[Job, JobType[Any, Any], Any]]:
        """Take `jobs` (queued -> running) in one write, except those that cannot run
        (refused: failed); the ones taken, with their type and parsed payload."""
        try:
            return await self._start_chosen(jobs)
        finally:
            self._chooser.settled(jobs)

    async def _start_chosen(self, jobs: Sequence[Job]) -> list[tuple[Job, JobType[Any, Any], Any]]:
        now = self._ctx.now()
        taken: list[tuple[Job, JobType[Any, Any], Any]] = []
        starts = job_events.Starts()
        for job in jobs:
            if job.type not in self._types:
                await self._refuse(job, None, f"recovery_unknown_job_type:{job.type}")
                continue
            job_type = self._types.get(job.type)
            try:
                payload = job_type.parse_payload(job.payload)
            except InvalidInput as exc:
                await self._refuse(job, job_type, f"recovery_invalid_payload:{exc.message}")
                continue
            after = starts.add(self._ctx, job, now)
            taken.append((after, job_type, payload))
        if not taken:
            return []
        try:
            await job_events.write(
                self._ctx, self.index, starts.mutations, starts.events, starts.records
            )
        except StoreConflict:
            # A cancel took a job meanwhile (nothing else moves a queued job): the cancel
            # wakes the runner, for the slot it held.
            if len(taken) == 1:
                return []  # canceled (or taken) meanwhile
            # One of them was canceled meanwhile (the write took none): one at a time.
            return [one for job in jobs for one in await self._start_chosen([job])]
        for job, job_type, _ in taken:
            self._register(job, job_type, now)
        return taken

    def _register(self, job: Job, job_type: JobType[Any, Any], now: datetime) -> Attempt:
        """The attempt of a job whose start committed: registered before it runs, so a
        cancel right after the start finds it."""
        attempt = Attempt(
            job_id=job.job_id, job_type=job_type, scope=anyio.CancelScope(), last_beat=now
        )
        self._attempts[job.job_id] = attempt
        if self._stopping:
            # Taken by a write that began before the drain: given back at once.
            attempt.request_stop(StopReason.SHUTDOWN)
            attempt.scope.cancel()
        if job_type.stall_timeout is not None and self._tasks is not None:
            self._tasks.start_soon(self._watch_stall, attempt, job_type.stall_timeout)
        return attempt

    # ------------------------------------------------------------------ start at enqueue

    def can_start_at_enqueue(self, owner: str) -> bool:
        """Whether a new job of `owner` may start in its enqueue's own write instead of
        waiting for a pass: nothing is queued (so nobody is passed over, and priorities and
        rotation have nothing to decide), a slot is free, the owner runs nothing, and the
        runner runs and is not draining. Saves a commit and a task hop per job when the
        queue keeps up."""
        index = self.index
        return (
            self._tasks is not None
            and not self._stopping
            and index.queued_count() == 0
            and not self._chooser.full()
            and not index.owner_running(owner)
        )

    def begin(self, job: Job, job_type: JobType[Any, Any], payload: Any) -> None:
        """Run the first attempt of `job`, which its enqueue wrote `running` (see
        `can_start_at_enqueue`; enqueues are serialized, and a pass starts only queued
        jobs, so nothing else took the slot or the owner meanwhile)."""
        tasks = self._tasks
        assert tasks is not None  # can_start_at_enqueue said so, and it is never unset
        self._register(job, job_type, self._ctx.now())
        # Served like a job a pass started, so the rotation stays fair.
        self._chooser.served(job.owner)
        tasks.start_soon(self._attempt, job, job_type, payload, name=f"job {job.job_id}")

    async def _refuse(self, job: Job, job_type: JobType[Any, Any] | None, error: str) -> None:
        try:
            after = await job_events.end(
                self._ctx,
                self.index,
                self.retention,
                job,
                (JobState.QUEUED,),
                JobState.FAILED,
                {"error": error, "completed_at": self._ctx.now()},
            )
        except StoreConflict:
            return
        if job_type is not None:
            await call_hook(job_type.hooks.on_failed, after)

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, job: Job, job_type: JobType[Any, Any], payload: Any) -> None:
        """Run the attempt of `job`, then of each job its end handed the slot to (one task
        for the jobs of a slot while the queue has work: no task, no pass per job)."""
        following: _Taken | None = (job, job_type, payload)
        while following is not None:
            job, job_type, payload = following
            following = None
            attempt = self._attempts[job.job_id]
            try:
                following = await self._run_and_record(job, job_type, payload, attempt)
            except Exception:
                # Recording the end failed (the store refused): the job stays running in
                # the store and the next start re-queues it.
                logger.exception("job %s: its end could not be recorded", job.job_id)
            finally:
                attempt.done.set()  # also when recording failed: its stall watch ends
                self._attempts.pop(job.job_id, None)
                ended, self._ended = self._ended, None
                if ended is not None:
                    ended.set()
                if following is None:
                    self.wake()  # the slot is free: the pass fills it

    async def _run_and_record(
        self, job: Job, job_type: JobType[Any, Any], payload: Any, attempt: Attempt
    ) -> _Taken | None:
        """Run one attempt and write how it ended; the next job, when the end handed the
        slot over (`_finish`)."""
        ctx = self._ctx
        context = JobContext(
            job_id=job.job_id,
            owner=job.owner,
            attempt=job.attempts,
            clock=ctx.clock,
            manager=self._manager,
            recorder=self._recorder,
            steps=dict(job.steps or {}),
        )
        result: Any = None
        error: BaseException | None = None
        hooks = job_type.hooks
        with attempt.scope:
            if hooks.on_started is not None:  # no coroutine per job for a hook not set
                await call_hook(hooks.on_started, job)
            try:
                with ctx.clock.move_on_after(job_type.timeout) as deadline:
                    result = _result_json(job_type, await _handler(job_type)(context, payload))
                if deadline.cancelled_caught:
                    error = TimedOut(
                        f"job {job.job_id} ({job.type}) attempt {job.attempts} did not "
                        f"finish within {job_type.timeout:g} s"
                    )
            except Exception as exc:
                error = exc
        attempt.done.set()
        # The events describe the job as stored now (its progress, a cancel request).
        job = self.index.get(job.job_id) or job
        stop = attempt.stop
        if stop is StopReason.SHUTDOWN:
            await self._give_back(job)
            return None
        if stop is StopReason.CANCELED or stop is StopReason.INTERRUPT_TIMEOUT:
            # Whatever the handler got to do (its turn interrupted, it ended by itself).
            return await self._finish(job, job_type, JobState.CANCELED, {"error": stop.value})
        if stop is StopReason.STALLED:
            stalled = JobStalled(
                f"job {job.job_id} ({job.type}) attempt {job.attempts} reported no heartbeat "
                f"for {job_type.stall_timeout:g} s"
            )
            return await self._failed(job, job_type, stalled)
        if error is None:
            return await self._finish(job, job_type, JobState.COMPLETED, {"result": result})
        return await self._failed(job, job_type, error)

    async def _watch_stall(self, attempt: Attempt, stall_timeout: float) -> None:
        """Beside the attempt (not in a task group of its own: most types have no stall
        timeout, and a task group per attempt costs throughput): until it ends, cancel it
        once it has had no heartbeat for `stall_timeout` seconds."""
        while not attempt.done.is_set():
            idle = (self._ctx.now() - attempt.last_beat).total_seconds()
            if idle >= stall_timeout:
                attempt.request_stop(StopReason.STALLED)
                attempt.scope.cancel()
                return
            with self._ctx.clock.move_on_after(stall_timeout - idle):
                await attempt.done.wait()

    async def _failed(
        self, job: Job, job_type: JobType[Any, Any], error: BaseException
    ) -> _Taken | None:
        reason = f"{type(error).__name__}: {error}"
        if job_type.retry.should_retry(job.attempts, error):
            delay = job_type.retry.delay(job.attempts, self._rng)
            changes = {
                "error": reason,
                "next_attempt_at": self._ctx.now() + timedelta(seconds=delay),
                "running_context": None,
            }
            # A retry is announced as queued again (retry: true), not as failed: the job has
            # not failed, and `wait` ends only on a terminal state.
            try:
                await job_events.transition(
                    self._ctx, self.index, job, RUNNING, JobState.QUEUED, changes, retry=True
                )
            except StoreConflict:
                logger.warning("job %s changed while it ran; its retry is not recorded", job)
            return None
        if not isinstance(error, TimedOut | InvalidInput):
            logger.warning("job %s (%s) failed", job.job_id, job.type, exc_info=error)
        return await self._finish(job, job_type, JobState.FAILED, {"error": reason})

    async def _finish(
        self,
        job: Job,
        job_type: JobType[Any, Any],
        state: JobState,
        changes: dict[str, Any],
        hand_over: bool = True,
    ) -> _Taken | None:
        """Write the end of `job`; with `hand_over`, the start of the job that takes its
        slot in the same write (the next job this task runs, returned)."""
        now = self._ctx.now()
        changes = {**changes, "completed_at": now, "running_context": None}
        chosen = self._hand_over(job, now) if hand_over else None
        starts = job_events.Starts()
        if chosen is not None:
            following = starts.add(self._ctx, chosen[0], now)
        try:
            after = await job_events.end(
                self._ctx,
                self.index,
                self.retention,
                job,
                RUNNING,
                state,
                changes,
                also=starts.mutations,
                also_events=starts.events,
                also_records=starts.records,
                at=now,
            )
        except StoreConflict:
            if chosen is not None:
                # The next job was canceled meanwhile, or this one changed: the end alone
                # (the pass chooses again).
                self._chooser.settled([chosen[0]])
                return await self._finish(job, job_type, state, changes, hand_over=False)
            logger.warning("job %s changed while it ran; its end (%s) is not recorded", job, state)
            return None
        finally:
            if chosen is not None:
                self._chooser.settled([chosen[0]])
        taken: _Taken | None = None
        if chosen is not None:
            _, next_type, payload = chosen
            self._register(following, next_type, now)
            taken = (following, next_type, payload)
        hooks = job_type.hooks
        if state is JobState.COMPLETED:
            hook = hooks.on_completed
        elif state is JobState.FAILED:
            hook = hooks.on_failed
        else:
            hook = hooks.on_canceled
        if hook is None:
            return taken
        try:
            await call_hook(hook, after)
        except BaseException:
            if taken is not None:
                # Not run: like a crash, its start stands and recovery re-queues it.
                dropped = self._attempts.pop(taken[0].job_id, None)
                if dropped is not None:
                    dropped.done.set()  # its stall watch ends
            raise
        return taken

    def _hand_over(self, leaving: Job, now: datetime) -> _Taken | None:
        """The job that takes the slot of `leaving` (held by the chooser until written),
        when one can start now and needs no refusal (those are the pass's)."""
        if self._stopping:
            return None
        # A backoff's or the grace's end needs no timer here: while the slots are taken,
        # each end chooses again, and a slot left free wakes the pass, which sets one.
        start = self._chooser.choose(now, leaving=leaving).decision.start
        if not start:
            return None
        job = start[0]
        job_type = self._types.get(job.type) if job.type in self._types else None
        try:
            payload = None if job_type is None else job_type.parse_payload(job.payload)
        except InvalidInput:
            job_type = None
        if job_type is None:
            self._chooser.settled([job])
            self.wake()  # to be refused by the pass
            return None
        return job, job_type, payload

    async def _give_back(self, job: Job) -> None:
        """Shutdown stopped this attempt: the job is queued again and the attempt is not
        counted (it did not fail; the next start runs it again, resuming its steps)."""
        changes = {
            "attempts": max(0, job.attempts - 1),
            "next_attempt_at": None,
            "running_context": None,
        }
        try:
            await job_events.transition(
                self._ctx, self.index, job, RUNNING, JobState.QUEUED, changes, shutdown=True
            )
        except StoreConflict:
            logger.warning("job %s changed while it ran; it is not re-queued", job)


_Taken = tuple[Job, JobType[Any, Any], Any]
"""A job whose start committed, with its type and parsed payload: an attempt to run."""


def _handler(job_type: JobType[Any, Any]) -> Callable[[Any, Any], Awaitable[Any]]:
    if job_type.run is None:
        raise InvalidInput(f"job type {job_type.type!r} has no handler (run)")
    return job_type.run


def _result_json(job_type: JobType[Any, Any], value: Any) -> Any:
    """The handler's result as JSON, checked against the type's result class."""
    if not isinstance(value, job_type.result):
        value = job_type.parse_result(value)
    return job_type.dump_result(value)


__all__ = ["JobContext", "JobRunner", "call_hook"]

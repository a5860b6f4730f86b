"""The job runner: takes queued jobs as the scheduler chooses them, runs each job type's
handler in its own task with the type's timeout, and writes how the attempt ended
(completed, retried with backoff, failed, canceled), each as one write with its event.

One runner per Manager, a background task of `Manager._run`. It is event driven: it
chooses again when woken (an enqueue, a job ending, a cancel, a job type registered) or
when the scheduler's `wake_at` (a retry's backoff) comes, on the Manager's Clock, so tests
drive it with `FakeClock`.

Recovery at start (`recover`, before the loop): a job left `running` by a previous
process is queued again, or failed with `recovery_max_attempts_exceeded` when its attempts
are used up. Job types are checked lazily, when the runner would start a job: users
register their types after `Manager.open` returns, so an eager check at start would fail
every job of theirs. The runner makes its first choice only once woken (the first type
registered, or the first enqueue); registration is synchronous, so types registered one
after the other before the first `await` are all known by then. A queued job whose type is
still unknown then fails with `recovery_unknown_job_type:<type>`, one whose stored payload
no longer fits its type with `recovery_invalid_payload:<reason>`.

Shutdown: the runner's task group is cancelled with the Manager. A handler cancelled that
way writes nothing, so its job stays `running` in the store and the next start re-queues
it (a job runs at least once; a handler that must not repeat work records its steps).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.abc
import attrs

from codex_manager_core.errors import InvalidInput, StoreConflict, TimedOut
from codex_manager_core.models import JsonObject
from codex_manager_core.ports import Clock
from codex_manager_core.ports.store import PatchJob
from codex_manager_core.queue.definitions import JobType, JobTypes
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.queue.scheduler import QueueLimits, Rotation, choose
from codex_manager_core.services import job_events
from codex_manager_core.services.context import ServiceContext

logger = logging.getLogger("codex_manager_core.queue")

RUNNING = (JobState.RUNNING,)
_ALL = 2**62
"""`queued_jobs`'s limit when loading the index: all of them."""


@attrs.frozen
class JobContext:
    """What a handler gets besides its payload: `async def run(ctx, payload) -> result`."""

    job_id: str
    owner: str
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    clock: Clock
    manager: Any
    """The Manager facade, so a job can call the Manager (sessions, turns, other jobs)."""
    _report: Callable[[JsonObject], Awaitable[None]] = attrs.field(alias="report")

    async def progress(self, data: JsonObject) -> None:
        """Record the job's latest progress (`orchestrator_job_progress`)."""
        await self._report(data)


class JobRunner:
    def __init__(self, ctx: ServiceContext, types: JobTypes, manager: Any) -> None:
        self._ctx = ctx
        self._types = types
        self._manager = manager
        self._wakeup = anyio.Event()
        self._rotation = Rotation()
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._rng = random.Random()
        self.index = QueueIndex()
        """The live jobs, shared with the service (loaded by `recover`)."""
        self.retention = job_events.Retention()
        config = ctx.config
        self.limits = QueueLimits(
            concurrency=config.queue_concurrency,
            max_per_owner=config.queue_max_per_owner,
            max_total=config.queue_max_total,
            background_aging=config.queue_background_aging,
        )

    def wake(self) -> None:
        """Choose again soon (something changed)."""
        self._wakeup.set()

    def cancel(self, job_id: str) -> bool:
        """Cancel the running attempt of `job_id` in this process (False: none runs here)."""
        scope = self._scopes.get(job_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> None:
        """Re-queue (or fail) the jobs a previous process left running."""
        now = self._ctx.now()
        store = self._ctx.store
        running = await store.running_jobs()
        # Every queued job: the index must be exact (capacity bounds how many there are).
        self.index.load([*await store.queued_jobs(_ALL), *running])
        for job in running:
            if job.job_id in self._scopes:
                continue
            try:
                if job.attempts >= job.max_attempts:
                    await job_events.transition(
                        self._ctx,
                        self.index,
                        job,
                        RUNNING,
                        JobState.FAILED,
                        {"error": "recovery_max_attempts_exceeded", "completed_at": now},
                    )
                else:
                    await job_events.transition(
                        self._ctx,
                        self.index,
                        job,
                        RUNNING,
                        JobState.QUEUED,
                        {"next_attempt_at": None, "running_context": None},
                        recovered=True,
                    )
            except StoreConflict:
                continue

    # ------------------------------------------------------------------ the loop

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self.recover()
        async with anyio.create_task_group() as tasks:
            task_status.started()
            # The first choice waits for a wake-up: see the module docstring (recovery).
            await self._wakeup.wait()
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
        now = self._ctx.now()
        index = self.index
        decision = choose(index.candidates(now), index.running(), self.limits, now, self._rotation)
        self._rotation = decision.rotation
        for job in decision.start:
            started = await self._start(job)
            if started is not None:
                tasks.start_soon(self._attempt, *started, name=f"job {job.job_id}")
        return decision.wake_at

    async def _start(self, job: Job) -> tuple[Job, JobType[Any, Any], Any] | None:
        """Take `job` (queued -> running) unless it cannot run; None when it was not taken."""
        ctx = self._ctx
        now = ctx.now()
        if job.type not in self._types:
            await self._refuse(job, f"recovery_unknown_job_type:{job.type}")
            return None
        job_type = self._types.get(job.type)
        try:
            payload = job_type.parse_payload(job.payload)
        except InvalidInput as exc:
            await self._refuse(job, f"recovery_invalid_payload:{exc.message}")
            return None
        changes = {
            "attempts": job.attempts + 1,
            "started_at": now,
            "last_attempt_at": now,
            "next_attempt_at": None,
        }
        try:
            taken = await job_events.transition(
                ctx, self.index, job, (JobState.QUEUED,), JobState.RUNNING, changes
            )
        except StoreConflict:
            return None  # canceled (or taken) meanwhile
        # Registered before the task starts, so a cancel right after this finds it.
        self._scopes[job.job_id] = anyio.CancelScope()
        return taken, job_type, payload

    async def _refuse(self, job: Job, error: str) -> None:
        try:
            await job_events.transition(
                self._ctx,
                self.index,
                job,
                (JobState.QUEUED,),
                JobState.FAILED,
                {"error": error, "completed_at": self._ctx.now()},
            )
        except StoreConflict:
            return
        await self.retention.ended(self._ctx, self.index, job.owner)

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, job: Job, job_type: JobType[Any, Any], payload: Any) -> None:
        scope = self._scopes[job.job_id]
        try:
            await self._run_and_record(job, job_type, payload, scope)
        except Exception:
            # Recording the end failed (the store refused): the job stays running in the
            # store and the next start re-queues it.
            logger.exception("job %s: its end could not be recorded", job.job_id)
        finally:
            self._scopes.pop(job.job_id, None)
            self.wake()

    async def _run_and_record(
        self, job: Job, job_type: JobType[Any, Any], payload: Any, scope: anyio.CancelScope
    ) -> None:
        ctx = self._ctx
        context = JobContext(
            job_id=job.job_id,
            owner=job.owner,
            attempt=job.attempts,
            clock=ctx.clock,
            manager=self._manager,
            report=lambda data: self._progress(job, data),
        )
        result: Any = None
        error: BaseException | None = None
        with scope:
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
        # The events describe the job as stored now (its progress, a cancel request).
        job = self.index.get(job.job_id) or job
        # A cancel of this attempt (not a shutdown: that cancels the task itself, and no
        # code runs here) ends the job canceled, whatever the handler got to do.
        if scope.cancelled_caught or scope.cancel_called:
            await self._finish(job, JobState.CANCELED, {"error": "canceled"})
        elif error is None:
            await self._finish(job, JobState.COMPLETED, {"result": result})
        else:
            await self._failed(job, job_type, error)

    async def _failed(self, job: Job, job_type: JobType[Any, Any], error: BaseException) -> None:
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
            return
        if not isinstance(error, TimedOut | InvalidInput):
            logger.warning("job %s (%s) failed", job.job_id, job.type, exc_info=error)
        await self._finish(job, JobState.FAILED, {"error": reason})

    async def _finish(self, job: Job, state: JobState, changes: dict[str, Any]) -> None:
        changes = {**changes, "completed_at": self._ctx.now(), "running_context": None}
        try:
            await job_events.transition(self._ctx, self.index, job, RUNNING, state, changes)
        except StoreConflict:
            logger.warning("job %s changed while it ran; its end (%s) is not recorded", job, state)
            return
        await self.retention.ended(self._ctx, self.index, job.owner)

    async def _progress(self, job: Job, data: JsonObject) -> None:
        current = self.index.get(job.job_id) or job
        await job_events.write(
            self._ctx,
            self.index,
            [PatchJob(job.job_id, {"progress": data})],
            [
                job_events.job_event(
                    self._ctx, job_events.PROGRESS, attrs.evolve(current, progress=data)
                )
            ],
        )


def _handler(job_type: JobType[Any, Any]) -> Callable[[Any, Any], Awaitable[Any]]:
    if job_type.run is None:
        raise InvalidInput(f"job type {job_type.type!r} has no handler (run)")
    return job_type.run


def _result_json(job_type: JobType[Any, Any], value: Any) -> Any:
    """The handler's result as JSON, checked against the type's result class."""
    if not isinstance(value, job_type.result):
        value = job_type.parse_result(value)
    return job_type.dump_result(value)


__all__ = ["JobContext", "JobRunner"]

"""The durable writes a running job makes through its `JobContext` (progress, steps, its
running context) and its heartbeats, and the lifecycle hooks' guard.

Apart from the runner, which decides how attempts start and end: these writes happen
while an attempt runs, each one write (with its `orchestrator_job_progress` event where the
original has one), and each counts as a heartbeat for stall detection.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import JsonObject
from codex_manager_core.ports.store import PatchJob
from codex_manager_core.queue.definitions import JobHook
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import Job, RunningContext
from codex_manager_core.services import job_events
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.job_context import Attempt

logger = logging.getLogger("codex_manager_core.queue")


class AttemptRecorder:
    """`JobContext`'s recorder: writes for the running attempts the runner tracks."""

    def __init__(
        self, ctx: ServiceContext, index: QueueIndex, attempts: dict[str, Attempt]
    ) -> None:
        self._ctx = ctx
        self.index = index
        self._attempts = attempts
        """The runner's running attempts (shared, not copied): whose heartbeat to move."""

    def heartbeat(self, job_id: str) -> None:
        attempt = self._attempts.get(job_id)
        if attempt is not None:
            attempt.last_beat = self._ctx.now()

    async def progress(self, job_id: str, data: JsonObject) -> None:
        self.heartbeat(job_id)
        current = self._current(job_id)
        await job_events.write(
            self._ctx,
            self.index,
            [PatchJob(job_id, {"progress": data})],
            [
                job_events.job_event(
                    self._ctx, job_events.PROGRESS, attrs.evolve(current, progress=data)
                )
            ],
        )

    async def step(
        self,
        job_id: str,
        name: str,
        data: Any,
        running_context: tuple[str | None, str | None] | None = None,
    ) -> None:
        self.heartbeat(job_id)
        current = self._current(job_id)
        steps = {**(current.steps or {}), name: data}
        changes: dict[str, Any] = {"steps": steps}
        if running_context is not None:
            thread_id, turn_id = running_context
            changes["running_context"] = RunningContext(thread_id=thread_id, turn_id=turn_id)
        await job_events.write(
            self._ctx,
            self.index,
            [PatchJob(job_id, changes)],
            [
                job_events.job_event(
                    self._ctx,
                    job_events.PROGRESS,
                    attrs.evolve(current, steps=steps),
                    step={"name": name, "data": data},
                )
            ],
        )

    async def running_context(
        self, job_id: str, thread_id: str | None, turn_id: str | None
    ) -> None:
        self.heartbeat(job_id)
        context = RunningContext(thread_id=thread_id, turn_id=turn_id)
        await job_events.write(
            self._ctx, self.index, [PatchJob(job_id, {"running_context": context})]
        )

    def _current(self, job_id: str) -> Job:
        job = self.index.get(job_id)
        if job is None:
            raise InvalidInput(f"job {job_id} is not running; its attempt has ended")
        return job


async def call_hook(hook: JobHook | None, job: Job) -> None:
    """Tell a lifecycle hook; one that raises is logged and changes nothing."""
    if hook is None:
        return
    try:
        await hook(job)
    except Exception:
        logger.exception("job %s (%s): a lifecycle hook failed", job.job_id, job.type)


__all__ = ["AttemptRecorder", "call_hook"]

"""Recovery at start: the jobs a previous process left `running` (it crashed, or was
killed) are queued again, or failed with `recovery_max_attempts_exceeded` when their
attempts are used up. Apart from the runner, which calls it before its loop (see
`job_runner`'s docstring), because it runs once and shares nothing with the hot path.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Final

from codex_manager_core.errors import StoreConflict
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import JobState
from codex_manager_core.services import job_events
from codex_manager_core.services.context import ServiceContext

RUNNING: Final = (JobState.RUNNING,)
_ALL: Final = 2**62
"""`queued_jobs`'s limit when loading the index: all of them."""


async def recover(ctx: ServiceContext, index: QueueIndex, attempts: Container[str]) -> None:
    """Load `index` from the store, then re-queue (or fail) the running jobs that have no
    attempt in this process (`attempts`)."""
    now = ctx.now()
    store = ctx.store
    running = await store.running_jobs()
    # Every queued job: the index must be exact (capacity bounds how many there are).
    index.load([*await store.queued_jobs(_ALL), *running])
    for job in running:
        if job.job_id in attempts:
            continue
        try:
            if job.attempts >= job.max_attempts:
                await job_events.transition(
                    ctx,
                    index,
                    job,
                    RUNNING,
                    JobState.FAILED,
                    {"error": "recovery_max_attempts_exceeded", "completed_at": now},
                )
            else:
                await job_events.transition(
                    ctx,
                    index,
                    job,
                    RUNNING,
                    JobState.QUEUED,
                    {"next_attempt_at": None, "running_context": None},
                    recovered=True,
                )
        except StoreConflict:
            continue


__all__ = ["recover"]

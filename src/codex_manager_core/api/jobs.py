"""The protocol of `manager.jobs`: the durable job queue (docs/queue.md)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from codex_manager_core.api.server import JobsServerApi

if TYPE_CHECKING:
    from codex_manager_core.queue.definitions import JobHandler, JobHooks, JobType
    from codex_manager_core.queue.model import JobPriority, JobState
    from codex_manager_core.queue.policies import CancelPolicy, DedupePolicy, RetryPolicy
    from codex_manager_core.services.jobs import Enqueued


class JobsApi(JobsServerApi, Protocol):
    """`manager.jobs`. Registering job types (`job_type`, `register`) is in-process: a
    remote client enqueues and reads jobs of the types its server registered."""

    def register(
        self, job_type: JobType[Any, Any], *, replace: bool = False
    ) -> JobType[Any, Any]: ...

    def job_type(
        self,
        type: str,
        *,
        payload: builtins.type[Any],
        result: builtins.type[Any],
        version: int = 1,
        priority: JobPriority | str = ...,
        dedupe: DedupePolicy = ...,
        retry: RetryPolicy = ...,
        timeout: float = 60.0,
        cancel: CancelPolicy = ...,
        stall_timeout: float | None = None,
        hooks: JobHooks | None = None,
    ) -> Callable[[JobHandler], JobType[Any, Any]]:
        """Decorator: `async def run(ctx, payload) -> result` as a job type."""
        ...

    async def enqueue(
        self,
        type: str,
        payload: Any,
        *,
        owner: str,
        source_session_id: str | None = None,
        priority: JobPriority | str | None = None,
    ) -> Enqueued:
        """Add a job, or join, drop into or merge with a live one (the type's dedupe)."""
        ...

    async def counts(self, owner: str | None = None) -> dict[JobState, int]: ...

"""What a job's handler is given (`JobContext`) and what the runner keeps about one running
attempt (`Attempt`): its cancel scope, its last heartbeat, and why it is being stopped.

Apart from `job_runner.py` because a handler only ever sees the context: its durable
writes (progress, steps, running context) and heartbeats, each of which the runner records
for it. The runner owns the attempt and decides how it ends.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import anyio
import attrs

from codex_manager_core.models import JsonObject
from codex_manager_core.ports import Clock
from codex_manager_core.queue.definitions import JobType


class StopReason(enum.StrEnum):
    """Why the runner stops an attempt that has not ended by itself."""

    CANCELED = "canceled"
    """A cancel: the job ends canceled (error `canceled`)."""
    INTERRUPT_TIMEOUT = "interrupt_timeout"
    """A cancel whose interrupted turn did not end within the graceful wait: forced."""
    STALLED = "stalled"
    """No heartbeat within the type's stall timeout: a failed attempt (`JobStalled`)."""
    SHUTDOWN = "shutdown"
    """The Manager closes: the job goes back to queued (see docs/queue.md, shutdown)."""


@attrs.define
class Attempt:
    """One running attempt, as the runner tracks it (mutable: heartbeats, the stop)."""

    job_id: str
    job_type: JobType[Any, Any]
    scope: anyio.CancelScope
    last_beat: datetime
    stop: StopReason | None = None
    """Set before the attempt's scope is cancelled (or its turn interrupted)."""
    done: anyio.Event = attrs.field(factory=anyio.Event)
    """Set when the handler has returned (or raised), before its end is written."""

    def request_stop(self, reason: StopReason) -> None:
        """Stop for `reason` unless already stopping (the first reason stands)."""
        if self.stop is None:
            self.stop = reason


class Recorder(Protocol):
    """The durable writes a context makes, implemented by the runner."""

    async def progress(self, job_id: str, data: JsonObject) -> None: ...

    async def step(
        self,
        job_id: str,
        name: str,
        data: Any,
        running_context: tuple[str | None, str | None] | None = None,
    ) -> None: ...

    async def running_context(
        self, job_id: str, thread_id: str | None, turn_id: str | None
    ) -> None: ...

    def heartbeat(self, job_id: str) -> None: ...


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
    _recorder: Recorder = attrs.field(alias="recorder")
    steps: Mapping[str, Any] = attrs.field(factory=dict)
    """The steps recorded by this job's attempts as of this attempt's start (name -> data):
    a retried or recovered attempt sees what earlier ones did, and skips it."""

    async def progress(self, data: JsonObject) -> None:
        """Record the job's latest progress (`orchestrator_job_progress`); a heartbeat."""
        await self._recorder.progress(self.job_id, data)

    async def step(
        self,
        name: str,
        data: Any = None,
        *,
        running_context: tuple[str | None, str | None] | None = None,
    ) -> None:
        """Record step `name` with its JSON `data` durably (one write, with an
        `orchestrator_job_progress` event whose payload names the step); a heartbeat.
        `running_context` (thread_id, turn_id): set it in the same write (a turn started:
        the step and where a cancel interrupts, at the cost of one commit)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a step name must be a non-empty string, not {name!r}")
        await self._recorder.step(self.job_id, name, data, running_context)

    async def set_running_context(self, thread_id: str | None, turn_id: str | None) -> None:
        """Record where the job's work runs now (a cancel with `interrupt_turn` interrupts
        this turn); cleared when the attempt ends. A heartbeat."""
        await self._recorder.running_context(self.job_id, thread_id, turn_id)

    async def heartbeat(self) -> None:
        """Say the job is alive (for its type's `stall_timeout`); writes nothing."""
        self._recorder.heartbeat(self.job_id)
        await anyio.lowlevel.checkpoint()


Interrupter = Callable[[str, str], Awaitable[None]]
"""Interrupts a worker's turn: `(thread_id, turn_id)`."""


__all__ = ["Attempt", "Interrupter", "JobContext", "Recorder", "StopReason"]

"""Store domain "workers": which hidden session is the worker of an (owner, agent) pair.

A worker session is provisioned lazily, the first time a job of the owner needs that agent,
and then reused by every later job, also after a restart: this mapping is what survives.
It is forgotten when the worker's thread turns out to be gone (the next job provisions a
new one) and when the owner (a project) is deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeAlias

import attrs


@attrs.frozen
class WorkerRecord:
    owner: str
    """A project id, or `session:<id>`."""
    agent: str
    session_id: str
    created_at: datetime


@attrs.frozen
class PutWorker:
    """Insert or replace the worker of (`record.owner`, `record.agent`)."""

    record: WorkerRecord


@attrs.frozen
class DeleteWorkers:
    """Forget the worker of (`owner`, `agent`), or every worker of `owner` when `agent` is
    None. Nothing to forget is not an error."""

    owner: str
    agent: str | None = None


WorkerMutation: TypeAlias = PutWorker | DeleteWorkers


class WorkerReads(Protocol):
    async def get_worker(self, owner: str, agent: str) -> WorkerRecord | None: ...

    async def list_workers(self, owner: str) -> list[WorkerRecord]:
        """The workers of one owner, by agent name."""
        ...


__all__ = ["DeleteWorkers", "PutWorker", "WorkerMutation", "WorkerReads", "WorkerRecord"]

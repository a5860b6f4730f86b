"""The composed `Store` protocol: the lifecycle, `apply`, `stats`, and every domain's reads
(each declared in its own `ports.store.<domain>` module)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from codex_manager_core.models import Event
from codex_manager_core.ports.store.actions import ActionReads
from codex_manager_core.ports.store.batch import Batch
from codex_manager_core.ports.store.extension_audit import ExtensionAuditReads
from codex_manager_core.ports.store.jobs import JobReads
from codex_manager_core.ports.store.ledger import LedgerReads
from codex_manager_core.ports.store.meta import MetaReads
from codex_manager_core.ports.store.projects import ProjectReads
from codex_manager_core.ports.store.requests import RequestReads
from codex_manager_core.ports.store.sessions import SessionReads
from codex_manager_core.ports.store.transcript import TranscriptReads
from codex_manager_core.ports.store.turns import TurnReads
from codex_manager_core.ports.store.workers import WorkerReads


@attrs.frozen
class StoreStats:
    events: int
    last_seq: int
    sessions: int
    projects: int
    open_requests: int
    size_bytes: int | None


@runtime_checkable
class Store(
    MetaReads,
    ProjectReads,
    SessionReads,
    TurnReads,
    RequestReads,
    TranscriptReads,
    LedgerReads,
    JobReads,
    WorkerReads,
    ActionReads,
    ExtensionAuditReads,
    Protocol,
):
    """Durable state: projects, session overlays, turns, interactive requests, transcript
    entries, meta values, the event ledger, the job queue and the worker sessions of (owner, agent), action receipts and the audit of extension reloads.

    All writes go through `apply(batch)`, atomically (see `ports.store.batch`); reads never
    block writes. Implementations: `SqliteStore` (apsw, WAL) and `MemoryStore`. One
    contract test suite (tests/contract/test_store_contract.py) holds both to the same
    behaviour.
    """

    async def open(self) -> None:
        """Create or migrate the schema; recover after a crash. Called once before use."""
        ...

    async def close(self) -> None: ...

    async def apply(self, batch: Batch) -> list[Event]:
        """Apply every mutation and append every event of `batch` in one transaction.
        Returns the stored events with their seq (consecutive, after the previous last);
        their payloads are the drafts' own objects (a read returns the JSON round trip).
        Raises StoreConflict (nothing written) when a TransitionRequest or TransitionJob
        does not match, or a PatchJob's job is missing."""
        ...

    async def stats(self) -> StoreStats: ...


__all__ = ["Store", "StoreStats"]

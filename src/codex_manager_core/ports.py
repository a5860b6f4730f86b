"""The ports of the core: the contracts its adapters implement.

The core talks to the outside world only through these protocols, so it can be driven by
real adapters (a `codex app-server` subprocess, SQLite) or by in-memory fakes in tests.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import anyio
import attrs

from codex_manager_core.models import (
    Controls,
    Event,
    InteractiveRequest,
    Project,
    SessionRecord,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
)
from codex_manager_core.store.batch import (
    Batch,
    EventQuery,
    Page,
    RequestQuery,
    SessionQuery,
    StoreStats,
)


@attrs.frozen
class ExitStatus:
    """How a runtime process ended: `returncode` >= 0 is an exit code, `signal` the signal
    that killed it (when it died of one)."""

    returncode: int | None
    signal: int | None = None

    @classmethod
    def from_returncode(cls, returncode: int | None) -> ExitStatus:
        if returncode is not None and returncode < 0:
            return cls(returncode, -returncode)
        return cls(returncode, None)

    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        if self.returncode is None:
            return "exit status unknown"
        return f"exit code {self.returncode}"


@runtime_checkable
class RuntimeProcess(Protocol):
    """One running runtime: a byte stream each way plus its lifecycle.

    `receive` returns the next chunk of the runtime's stdout, or b"" once it is closed.
    `send` writes to its stdin. `stop` ends it for good (close stdin, then SIGTERM, then
    SIGKILL, each after a grace period) and must also work when called under cancellation.
    """

    @property
    def pid(self) -> int | None: ...

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes: ...

    async def wait(self) -> ExitStatus: ...

    async def stop(self) -> ExitStatus: ...


@runtime_checkable
class RuntimeTransport(Protocol):
    """Starts runtime processes. The supervisor opens one per (re)start.

    `open()` is an async context manager so the adapter can own background work tied to the
    process (draining stderr): leaving the context stops the process and everything it
    started, also when the caller is being cancelled.
    """

    def open(self) -> AbstractAsyncContextManager[RuntimeProcess]: ...


@runtime_checkable
class Clock(Protocol):
    """Time, injectable so tests can control it."""

    def now(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps people read)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (retry backoffs go through here, so a fake
        clock can run them instantly)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@runtime_checkable
class Store(Protocol):
    """Durable state: projects, session overlays, turns, interactive requests, transcript
    entries, meta values and the event ledger.

    All writes go through `apply(batch)`, atomically (see `store.batch`); reads never block
    writes. Implementations: `SqliteStore` (apsw, WAL) and `MemoryStore`. One contract test
    suite (tests/contract/test_store_contract.py) holds both to the same behaviour.
    """

    async def open(self) -> None:
        """Create or migrate the schema; recover after a crash. Called once before use."""
        ...

    async def close(self) -> None: ...

    async def apply(self, batch: Batch) -> list[Event]:
        """Apply every mutation and append every event of `batch` in one transaction.
        Returns the stored events with their seq (consecutive, after the previous last);
        their payloads are the drafts' own objects (a read returns the JSON round trip).
        Raises StoreConflict (nothing written) when a TransitionRequest does not match."""
        ...

    # meta
    async def get_meta(self, key: str) -> str | None: ...

    # projects
    async def get_project(self, project_id: str) -> Project | None: ...
    async def find_project_by_name(self, name: str) -> Project | None:
        """Case-insensitive (casefold) name match; the oldest project if several match."""
        ...

    async def list_projects(self) -> list[Project]:
        """Sorted by name, case-insensitively."""
        ...

    # sessions
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def list_sessions(self, query: SessionQuery) -> Page: ...
    async def count_sessions(self, query: SessionQuery) -> int: ...
    async def get_tombstone(self, session_id: str) -> Tombstone | None: ...
    async def get_default_controls(self) -> Controls | None: ...

    # turns
    async def get_turn(self, turn_id: str) -> TurnRecord | None: ...
    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        """Oldest (started_at) first; ties in insertion order."""
        ...

    # interactive requests
    async def get_request(self, request_id: str) -> InteractiveRequest | None: ...
    async def list_requests(self, query: RequestQuery) -> list[InteractiveRequest]:
        """Oldest (created_at) first; ties in insertion order."""
        ...

    # transcript
    async def list_transcript_entries(self, thread_id: str) -> list[TranscriptEntry]:
        """In insertion order (a replaced entry keeps its first position)."""
        ...

    # ledger
    async def read_events(self, query: EventQuery) -> list[Event]:
        """Ascending seq. System events are included only for thread ids named in
        `query.thread_ids`."""
        ...

    async def last_seq(self) -> int:
        """The highest seq ever assigned (even if compaction removed that event); 0 if none."""
        ...

    async def stats(self) -> StoreStats: ...

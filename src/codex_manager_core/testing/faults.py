"""Storage fault injection, without root: a small disk, a read-only disk, a failing disk.

- `QuotaVFS`: a SQLite VFS (apsw) that passes everything to the default VFS but refuses
  writes that would grow the database files past `quota_bytes` (SQLITE_FULL, exactly what a
  full file system gives), or every write with another error (`fail_with(apsw.IOError)`,
  `apsw.ReadOnlyError`). Both can change at run time, from any thread:

      with QuotaVFS() as vfs:
          store = SqliteStore(path, vfs=vfs.name)
          async with Manager.open(data_dir, store=store, ...) as manager:
              vfs.fill()          # the disk is full from now on
              ...
              vfs.free()          # space is back

- `FaultyStore`: wraps any Store; `apply()` raises the exception you set (for unit tests of
  the ledger, e.g. `store.failure = store_full()`), and counts attempts.
- `store_full()`: the `StoreUnavailable` a full disk gives.

Only the manager's own SQLite files are affected: the runtime (codex app-server) writes
its CODEX_HOME through the real file system. For a real full disk, mount a small tmpfs in a
private mount namespace (`unshare -m`, root) and put the data directory there.
"""

from __future__ import annotations

import itertools
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import apsw

from codex_manager_core.errors import StoreUnavailable
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
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    ActionReceipt,
    AuditRecord,
    Batch,
    EventQuery,
    JobQuery,
    Page,
    RequestQuery,
    SessionQuery,
    StoreStats,
    WorkerRecord,
)
from codex_manager_core.queue.model import Job, JobState

_names = itertools.count(1)


class QuotaVFS(apsw.VFS):
    """A SQLite VFS with a disk quota and switchable write errors (see the module
    docstring). Register it by creating it; `close()` (or leaving the `with`) unregisters
    it. Give `SqliteStore(..., vfs=vfs.name)`."""

    def __init__(self, quota_bytes: int | None = None, *, name: str | None = None) -> None:
        self.name = name or f"codex-manager-quota-{next(_names)}"
        super().__init__(self.name, "")
        self.quota_bytes = quota_bytes
        """Most bytes the files opened through this VFS may take together; None: no limit."""
        self.error: type[apsw.Error] | None = None
        """When set, every write fails with this error."""
        self.refused_writes = 0
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ controls

    def used_bytes(self) -> int:
        """Bytes the files opened through this VFS take (as far as writes made them)."""
        with self._lock:
            return sum(self._sizes.values())

    def fill(self) -> None:
        """The disk is full: any write that grows a file fails with SQLITE_FULL."""
        self.quota_bytes = self.used_bytes()

    def free(self) -> None:
        """Space is back (no quota, no injected error)."""
        self.quota_bytes = None
        self.error = None

    def fail_with(self, error: type[apsw.Error] | None) -> None:
        """Fail every write with `error` (e.g. apsw.IOError, apsw.ReadOnlyError); None
        stops it."""
        self.error = error

    def close(self) -> None:
        self.unregister()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ VFS

    def xOpen(self, name: Any, flags: list[int]) -> apsw.VFSFile:
        return _QuotaFile(self, name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        super().xDelete(filename, syncdir)
        with self._lock:
            self._sizes.pop(filename, None)

    # ------------------------------------------------------------------ accounting

    def _check_write(self, key: str, end: int, current: int) -> None:
        with self._lock:
            if self.error is not None:
                self.refused_writes += 1
                raise self.error(f"injected by {self.name}")
            growth = end - current
            quota = self.quota_bytes
            if growth > 0 and quota is not None and sum(self._sizes.values()) + growth > quota:
                self.refused_writes += 1
                raise apsw.FullError(f"database or disk is full (quota of {self.name})")

    def _set_size(self, key: str, size: int) -> None:
        with self._lock:
            self._sizes[key] = size


class _QuotaFile(apsw.VFSFile):
    def __init__(self, vfs: QuotaVFS, name: Any, flags: list[int]) -> None:
        super().__init__("", name, flags)
        self._vfs = vfs
        filename = name.filename() if isinstance(name, apsw.URIFilename) else name
        self._key = str(filename) if filename is not None else f"<temp {id(self):x}>"
        vfs._set_size(self._key, max(vfs._sizes.get(self._key, 0), self.xFileSize()))

    def xWrite(self, data: bytes, offset: int) -> None:
        current = self.xFileSize()
        end = offset + len(data)
        self._vfs._check_write(self._key, end, current)
        super().xWrite(data, offset)
        self._vfs._set_size(self._key, max(current, end))

    def xTruncate(self, newsize: int) -> None:
        if self._vfs.error is not None:
            self._vfs._check_write(self._key, 0, 0)
        super().xTruncate(newsize)
        self._vfs._set_size(self._key, newsize)


def store_full(location: str = "<data dir>") -> StoreUnavailable:
    """The error a SqliteStore raises on a full disk."""
    return StoreUnavailable(location, "the disk is full (SQLITE_FULL: database or disk is full)")


class FaultyStore:
    """A Store that delegates to `inner`, except that `apply()` raises `failure` while it
    is set (nothing is written then). `attempts` counts calls to `apply()`."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failure: BaseException | None = None
        self.attempts = 0

    async def apply(self, batch: Batch) -> list[Event]:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        return await self.inner.apply(batch)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def get_meta(self, key: str) -> str | None:
        return await self.inner.get_meta(key)

    async def get_project(self, project_id: str) -> Project | None:
        return await self.inner.get_project(project_id)

    async def find_project_by_name(self, name: str) -> Project | None:
        return await self.inner.find_project_by_name(name)

    async def list_projects(self) -> list[Project]:
        return await self.inner.list_projects()

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await self.inner.get_session(session_id)

    async def list_sessions(self, query: SessionQuery) -> Page:
        return await self.inner.list_sessions(query)

    async def count_sessions(self, query: SessionQuery) -> int:
        return await self.inner.count_sessions(query)

    async def get_tombstone(self, session_id: str) -> Tombstone | None:
        return await self.inner.get_tombstone(session_id)

    async def get_default_controls(self) -> Controls | None:
        return await self.inner.get_default_controls()

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        return await self.inner.get_turn(turn_id)

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        return await self.inner.list_turns(thread_id)

    async def get_request(self, request_id: str) -> InteractiveRequest | None:
        return await self.inner.get_request(request_id)

    async def list_requests(self, query: RequestQuery) -> list[InteractiveRequest]:
        return await self.inner.list_requests(query)

    async def list_transcript_entries(self, thread_id: str) -> list[TranscriptEntry]:
        return await self.inner.list_transcript_entries(thread_id)

    async def get_job(self, job_id: str) -> Job | None:
        return await self.inner.get_job(job_id)

    async def list_jobs(self, query: JobQuery) -> Page:
        return await self.inner.list_jobs(query)

    async def count_jobs(self, owner: str | None = None) -> dict[JobState, int]:
        return await self.inner.count_jobs(owner)

    async def queued_jobs(self, limit: int) -> list[Job]:
        return await self.inner.queued_jobs(limit)

    async def running_jobs(self) -> list[Job]:
        return await self.inner.running_jobs()

    async def get_worker(self, owner: str, agent: str) -> WorkerRecord | None:
        return await self.inner.get_worker(owner, agent)

    async def list_workers(self, owner: str) -> list[WorkerRecord]:
        return await self.inner.list_workers(owner)

    async def get_action_receipt(self, key: str) -> ActionReceipt | None:
        return await self.inner.get_action_receipt(key)

    async def list_extension_audit(self, limit: int = 100) -> list[AuditRecord]:
        return await self.inner.list_extension_audit(limit)

    async def read_events(self, query: EventQuery) -> list[Event]:
        return await self.inner.read_events(query)

    async def last_seq(self) -> int:
        return await self.inner.last_seq()

    async def stats(self) -> StoreStats:
        return await self.inner.stats()


if TYPE_CHECKING:

    def _a_faulty_store_is_a_store(store: FaultyStore) -> Store:
        return store  # mypy: a new store domain must be forwarded here too

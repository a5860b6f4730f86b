"""SqliteStore: the Store port on SQLite (apsw), durable and crash-safe.

This module holds the connections, the single writer and the read plumbing; each domain's
SQL (its reads and what its mutations compile to) is in its own module beside it
(`projects`, `sessions`, `turns`, `requests`, `transcript`, `meta`, `ledger`, `jobs`,
`workers`, `actions`, `extension_audit`), the
schema in `migrations`, the WAL checkpointer in `checkpoints`.

Durability and crash safety come from SQLite itself: WAL journal with `synchronous=NORMAL`
(a committed transaction survives the process being killed at any instant; only an OS
crash or power loss can lose the last commits, never corrupt the file), and every change is
a short transaction touching only the rows it changes: nothing is ever rewritten whole. After a crash, opening
the file runs SQLite's WAL recovery; there is nothing for us to repair.

Concurrency model:

- ONE writer. Every `apply()` runs on the event loop's own thread, holding the single
  write connection; a batch is one `BEGIN IMMEDIATE ... COMMIT` inside that one
  synchronous call, so no transaction ever stays open across an `await`. Values are
  encoded before `BEGIN`, keeping the write lock short. Why not a worker thread: a commit
  without fsync (WAL, synchronous=NORMAL) takes well under a millisecond, while a worker
  thread fighting the busy event loop for the GIL around every SQLite step (a "GIL convoy")
  made 500-event commits take 50-100 ms (measured with bench/event_pipeline.py).
  Event seqs are assigned inside the transaction from `ledger_state.last_seq` (read there,
  not cached, so even a second process writing the same file cannot make us reuse a seq);
  a rolled-back batch consumes none.
- Checkpoints (moving the WAL into the main file, with fsync) are taken off the commit
  path: the writer's auto-checkpoint is off, and a background thread with its own
  connection runs PASSIVE checkpoints (which never block writers) about once a second
  while there are writes. Left inside commits, they turned one commit in a few hundred
  into a 7-9 ms stall.
- Readers use their own connections (WAL readers never block the writer nor wait for it):
  queries that may touch many rows run on worker threads from a small pool; point lookups
  by primary key run inline (see `_point_read` for why that is safe and faster).
- Cancelling a task in `apply()`: cancelled before the batch started, nothing is
  written; once started it runs to its commit or rollback without awaiting.

- When the disk is full, the directory read-only or the device failing, `apply()` raises
  `StoreUnavailable` (SQLITE_FULL, IOERR, READONLY, CANTOPEN, or BUSY past the timeout),
  naming the data directory; any other error is a bad write and is raised as it is. After
  such a failure, and when writes resume, the writer runs a TRUNCATE checkpoint: it
  may give space back at once, and it brings a WAL that grew back to `WAL_SIZE_LIMIT`
  (past it, a WAL is also truncated to it after each checkpoint, and on close).

Only anyio APIs are used, so the store runs under asyncio and trio. An instance belongs to
one event loop (the one that opened it).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
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
from codex_manager_core.ports.store import (
    ActionReceipt,
    AuditRecord,
    Batch,
    EventQuery,
    JobQuery,
    Mutation,
    Page,
    RequestQuery,
    SessionQuery,
    StoreStats,
    WorkerRecord,
)
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.store import codec, event_rows
from codex_manager_core.store.sqlite import (
    actions,
    extension_audit,
    jobs,
    ledger,
    meta,
    projects,
    requests,
    sessions,
    transcript,
    turns,
    workers,
)
from codex_manager_core.store.sqlite.checkpoints import TRUNCATE_BUSY_MS, Checkpointer
from codex_manager_core.store.sqlite.connection import connect, open_connections
from codex_manager_core.store.sqlite.sql import OPEN_STATUSES, Op, one
from codex_manager_core.store.sqlite.unavailable import UNAVAILABLE_ERRORS, describe_unavailable

T = TypeVar("T")

#: What each mutation type compiles to, gathered from the domain modules.
COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    **projects.COMPILERS,
    **sessions.COMPILERS,
    **turns.COMPILERS,
    **requests.COMPILERS,
    **transcript.COMPILERS,
    **meta.COMPILERS,
    **ledger.COMPILERS,
    **jobs.COMPILERS,
    **workers.COMPILERS,
    **actions.COMPILERS,
    **extension_audit.COMPILERS,
}

logger = logging.getLogger(__name__)


class SqliteStore:
    """The `Store` port on a SQLite file (see the module docstring for the design)."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = 5.0,
        read_connections: int = 4,
        vfs: str | None = None,
    ) -> None:
        """`busy_timeout`: seconds a connection waits for a lock held by another process
        (a second manager or a CLI on the same file) before failing. `read_connections`:
        how many worker threads may read at the same time. `vfs`: the name of a registered
        SQLite VFS (fault injection: `codex_manager_core.testing.QuotaVFS`)."""
        self.path = Path(path)
        self._vfs = vfs
        self._failed_since_checkpoint = False
        self._busy_ms = int(busy_timeout * 1000)
        self._read_slots = max(1, read_connections)
        self._writer: apsw.Connection | None = None
        self._inline: apsw.Connection | None = None
        self._idle_readers: list[apsw.Connection] = []
        self._all_readers: list[apsw.Connection] = []
        self._write_limiter: anyio.CapacityLimiter | None = None
        self._read_limiter: anyio.CapacityLimiter | None = None
        self._closing = False
        self._checkpointer: Checkpointer | None = None

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open (creating the file if needed), recover after a crash, migrate the schema.
        Raises StoreCorrupt when the file is not a usable codex-manager database."""
        if self._writer is not None or self._closing:
            raise RuntimeError(f"SqliteStore({self.path}) was already opened")
        self._write_limiter = anyio.CapacityLimiter(1)
        self._read_limiter = anyio.CapacityLimiter(self._read_slots)
        await anyio.to_thread.run_sync(self._open_sync, limiter=self._write_limiter)

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer, self._inline = open_connections(self._connect, self.path, self._busy_ms)
        except UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self._checkpointer = Checkpointer(lambda: self._connect(self._busy_ms), str(self.path))
        self._checkpointer.start()

    def _connect(self, busy_ms: int) -> apsw.Connection:
        return connect(self.path, busy_ms, self._vfs)

    async def close(self) -> None:
        """Wait for in-flight operations, then close every connection (the last close
        checkpoints the WAL into the main file). Idempotent; not interrupted by
        cancellation, so connections are never leaked half-closed."""
        if self._closing:
            return
        self._closing = True
        if self._write_limiter is None or self._read_limiter is None:
            return
        with anyio.CancelScope(shield=True):
            held: list[object] = []
            await self._write_limiter.acquire()
            try:
                for _ in range(self._read_slots):
                    token = object()
                    await self._read_limiter.acquire_on_behalf_of(token)
                    held.append(token)
                await anyio.to_thread.run_sync(self._close_sync)
            finally:
                for token in held:
                    self._read_limiter.release_on_behalf_of(token)
                self._write_limiter.release()

    def _unavailable(self, exc: apsw.Error) -> StoreUnavailable:
        return StoreUnavailable(str(self.path.parent), describe_unavailable(exc))

    def _close_sync(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._writer is not None:
            # Write the WAL back and truncate it before closing (the last close would do it
            # too, but silently skips it when it fails: then say so).
            try:
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except apsw.Error as exc:
                logger.warning(
                    "could not checkpoint %s-wal on close (%s); SQLite replays it at the "
                    "next start",
                    self.path,
                    exc,
                )
        for conn in self._all_readers:
            conn.close()
        self._all_readers.clear()
        self._idle_readers.clear()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _check_open(self) -> None:
        if self._writer is None or self._closing:
            state = "closed" if self._closing else "not open"
            raise RuntimeError(f"SqliteStore({self.path}) is {state}")

    # ------------------------------------------------------------------ writes

    async def apply(self, batch: Batch) -> list[Event]:
        self._check_open()
        assert self._write_limiter is not None
        await anyio.lowlevel.checkpoint()
        if not batch.mutations and not batch.events:
            return []
        # The limiter only orders us with close(); the commit runs here (module docstring).
        # Taken without a second yield when free (the checkpoint above is the one), as it
        # is on every write's path.
        limiter = self._write_limiter
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            await limiter.acquire()
        try:
            self._check_open()
            try:
                events = self._apply_sync(batch)
            except UNAVAILABLE_ERRORS as exc:
                # Writing the WAL back may give space back (it then needs no new pages).
                self._failed_since_checkpoint = not self._truncate_wal()
                raise self._unavailable(exc) from exc
            if self._failed_since_checkpoint:
                # Writes resumed: bring back the WAL that grew while checkpoints failed.
                self._failed_since_checkpoint = not self._truncate_wal()
        finally:
            limiter.release()
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        return events

    def _truncate_wal(self) -> bool:
        """A TRUNCATE checkpoint on the write connection, now (only after a failed write
        and when writes resume, so rare). Bounded: a busy reader or checkpoint makes it
        give up quickly (False) rather than hold up the event loop; then the next write
        tries again."""
        conn = self._writer
        checkpointer = self._checkpointer
        if conn is None or checkpointer is None or not checkpointer.lock.acquire(timeout=1.0):
            return False
        try:
            conn.set_busy_timeout(TRUNCATE_BUSY_MS)
            rows = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return bool(rows) and rows[0][0] == 0
        except apsw.Error as exc:
            logger.debug("WAL checkpoint (TRUNCATE) failed: %s", exc)
            return False
        finally:
            conn.set_busy_timeout(self._busy_ms)
            checkpointer.lock.release()

    async def checkpoint(self) -> None:
        """Write the WAL back into the database file and truncate it (the store does this
        on its own; tests and maintenance call it to get a known state). Raises
        StoreUnavailable when it cannot (e.g. the disk is full and the file must grow)."""
        self._check_open()
        assert self._write_limiter is not None

        def run() -> None:
            assert self._writer is not None
            checkpointer = self._checkpointer
            with checkpointer.lock if checkpointer is not None else contextlib.nullcontext():
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

        async with self._write_limiter:
            try:
                await anyio.to_thread.run_sync(run)
            except UNAVAILABLE_ERRORS as exc:
                raise self._unavailable(exc) from exc

    def _apply_sync(self, batch: Batch) -> list[Event]:
        conn = self._writer
        if conn is None:
            raise RuntimeError(f"SqliteStore({self.path}) is closed")
        # Everything that can fail on a bad value fails here, before the write lock.
        ops = [self._compile(mutation) for mutation in batch.mutations]
        encoded = [event_rows.encode_draft(draft) for draft in batch.events]
        rows: list[codec.Row] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                op(conn)
            if encoded:
                rows = ledger.append(conn, encoded)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return [
            event_rows.stored_event(row[0], draft, row[4])
            for row, draft in zip(rows, batch.events, strict=True)
        ]

    def _compile(self, mutation: Mutation) -> Op:
        """Encode one mutation into a function that performs it on the write connection."""
        compile_op = COMPILERS.get(type(mutation))
        if compile_op is None:
            raise TypeError(f"not a store mutation: {mutation!r}")
        return compile_op(mutation)

    async def _read(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn` on a pooled read connection in a worker thread."""
        self._check_open()
        assert self._read_limiter is not None
        return await anyio.to_thread.run_sync(self._with_reader, fn, limiter=self._read_limiter)

    def _with_reader(self, fn: Callable[[apsw.Connection], T]) -> T:
        # The limiter bounds concurrent callers to `read_connections`, so the pool never
        # grows past that; list.pop/append are atomic under the GIL.
        try:
            conn = self._idle_readers.pop()
        except IndexError:
            conn = self._connect(self._busy_ms)
            conn.execute("PRAGMA query_only = ON")
            self._all_readers.append(conn)
        try:
            return fn(conn)
        finally:
            self._idle_readers.append(conn)

    async def _point_read(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run a primary-key lookup inline, on the event loop thread.

        Measured (apsw 3.54, 10k rows): ~6 us inline against ~105 us (asyncio) / ~145 us
        (trio) for a round trip through a worker thread, so the thread hop would cost ~20x
        the query. It is harmless: a WAL reader takes no lock the writer waits for and
        never waits for the writer, and the query touches a handful of cached pages. The
        inline connection has busy_timeout 0, so in the rare states where SQLite would make
        a reader wait (WAL recovery by another process) it fails at once with BusyError
        and we retry on a worker thread instead of blocking the event loop. It is only ever
        used from the event loop thread, one call at a time.
        """
        await anyio.lowlevel.checkpoint()
        self._check_open()
        assert self._inline is not None
        try:
            return fn(self._inline)
        except apsw.BusyError:
            return await self._read(fn)

    # ------------------------------------------------------------------ reads

    async def get_meta(self, key: str) -> str | None:
        return await self._point_read(lambda c: meta.get_meta(c, key))

    async def get_project(self, project_id: str) -> Project | None:
        return await self._point_read(lambda c: projects.get_project(c, project_id))

    async def find_project_by_name(self, name: str) -> Project | None:
        return await self._point_read(lambda c: projects.find_project_by_name(c, name))

    async def list_projects(self) -> list[Project]:
        return await self._read(projects.list_projects)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await self._point_read(lambda c: sessions.get_session(c, session_id))

    async def list_sessions(self, query: SessionQuery) -> Page:
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, got {query.limit}")
        sql, params = sessions.sessions_sql(query)
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return sessions.page(rows, query)

    async def count_sessions(self, query: SessionQuery) -> int:
        sql, params = sessions.count_sql(query)
        row = await self._read(lambda c: one(c, sql, params))
        return int(row[0]) if row else 0

    async def get_tombstone(self, session_id: str) -> Tombstone | None:
        return await self._point_read(lambda c: sessions.get_tombstone(c, session_id))

    async def get_default_controls(self) -> Controls | None:
        return await self._point_read(sessions.get_default_controls)

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        return await self._point_read(lambda c: turns.get_turn(c, turn_id))

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        return await self._read(lambda c: turns.list_turns(c, thread_id))

    async def get_request(self, request_id: str) -> InteractiveRequest | None:
        return await self._point_read(lambda c: requests.get_request(c, request_id))

    async def list_requests(self, query: RequestQuery) -> list[InteractiveRequest]:
        sql, params = requests.requests_sql(query)
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return [codec.REQUESTS.decode(row) for row in rows]

    async def list_transcript_entries(self, thread_id: str) -> list[TranscriptEntry]:
        return await self._read(lambda c: transcript.list_transcript_entries(c, thread_id))

    async def read_events(self, query: EventQuery) -> list[Event]:
        if query.limit < 1:
            await anyio.lowlevel.checkpoint()
            return []
        sql, params = ledger.events_sql(query)
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return [event_rows.decode_event(row) for row in rows]

    async def last_seq(self) -> int:
        return await self._point_read(ledger.last_seq)

    async def get_job(self, job_id: str) -> Job | None:
        return await self._point_read(lambda c: jobs.get_job(c, job_id))

    async def list_jobs(self, query: JobQuery) -> Page:
        sql, params = jobs.jobs_sql(query)
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return jobs.page(rows, query)

    async def count_jobs(self, owner: str | None = None) -> dict[JobState, int]:
        return await self._read(lambda c: jobs.count_jobs(c, owner))

    async def queued_jobs(self, limit: int) -> list[Job]:
        return await self._read(lambda c: jobs.jobs_in_state(c, JobState.QUEUED, limit))

    async def running_jobs(self) -> list[Job]:
        return await self._read(lambda c: jobs.jobs_in_state(c, JobState.RUNNING, None))

    async def get_worker(self, owner: str, agent: str) -> WorkerRecord | None:
        return await self._point_read(lambda c: workers.get_worker(c, owner, agent))

    async def list_workers(self, owner: str) -> list[WorkerRecord]:
        return await self._read(lambda c: workers.list_workers(c, owner))

    async def get_action_receipt(self, key: str) -> ActionReceipt | None:
        return await self._point_read(lambda c: actions.get_action_receipt(c, key))

    async def list_extension_audit(self, limit: int = 100) -> list[AuditRecord]:
        return await self._read(lambda c: extension_audit.list_extension_audit(c, limit))

    async def stats(self) -> StoreStats:
        sql = (
            "SELECT (SELECT count(*) FROM events), "
            "(SELECT last_seq FROM ledger_state WHERE id = 1), "
            "(SELECT count(*) FROM sessions), (SELECT count(*) FROM projects), "
            "(SELECT count(*) FROM requests WHERE status IN (?, ?))"
        )
        row = await self._read(lambda c: one(c, sql, OPEN_STATUSES))
        assert row is not None
        events, last_seq, session_count, project_count, open_requests = row
        return StoreStats(
            events=int(events),
            last_seq=int(last_seq or 0),
            sessions=int(session_count),
            projects=int(project_count),
            open_requests=int(open_requests),
            size_bytes=self._size_bytes(),
        )

    def _size_bytes(self) -> int:
        total = 0
        for name in (str(self.path), f"{self.path}-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(name).st_size
        return total


__all__ = ["SqliteStore"]

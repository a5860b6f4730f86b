"""Opening SqliteStore's connections: the settings of the write connection (WAL,
synchronous=NORMAL, checkpoints off the commit path), the schema migration, and what a
file that is not a usable store turns into (`StoreCorrupt`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw

from codex_manager_core.ports.store.errors import StoreCorrupt
from codex_manager_core.store.sqlite.checkpoints import WAL_SIZE_LIMIT
from codex_manager_core.store.sqlite.migrations import migrate
from codex_manager_core.store.sqlite.sql import one


def connect(path: Path, busy_ms: int, vfs: str | None = None) -> apsw.Connection:
    conn = apsw.Connection(str(path)) if vfs is None else apsw.Connection(str(path), vfs=vfs)
    conn.set_busy_timeout(busy_ms)
    return conn


def configure_writer(writer: apsw.Connection, path: Path) -> None:
    # journal_mode is the first statement to read the file: it fails on garbage.
    (mode,) = one(writer, "PRAGMA journal_mode = WAL") or ("?",)
    if str(mode).lower() != "wal":
        raise StoreCorrupt(
            f"{path}: SQLite cannot use WAL journal mode here (got {mode!r}); "
            "put the data directory on a local file system"
        )
    writer.execute("PRAGMA synchronous = NORMAL")
    # After a checkpoint, shrink a WAL that grew past the limit (during a burst, or while
    # checkpoints could not complete).
    writer.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    # Checkpoints run on the checkpointer thread, not inside our commits.
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    migrate(writer, path)


def open_connections(
    connect_with: Callable[[int], apsw.Connection], path: Path, busy_ms: int
) -> tuple[apsw.Connection, apsw.Connection]:
    """The write connection (`busy_ms` busy timeout, configured, schema migrated) and the inline read connection
    (busy timeout 0, query only; see `SqliteStore._point_read`). On any failure both are
    closed; a file that is not a database raises StoreCorrupt."""
    writer: apsw.Connection | None = None
    inline: apsw.Connection | None = None
    try:
        writer = connect_with(busy_ms)
        configure_writer(writer, path)
        inline = connect_with(0)
        inline.execute("PRAGMA query_only = ON")
    except BaseException as exc:
        for conn in (inline, writer):
            if conn is not None:
                conn.close()
        if isinstance(exc, (apsw.NotADBError, apsw.CorruptError)):
            raise StoreCorrupt(
                f"{path} is not a usable SQLite database ({exc}); move it away or "
                "restore a backup, then start again"
            ) from exc
        raise
    return writer, inline

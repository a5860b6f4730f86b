"""Which SQLite errors mean "the storage cannot take writes now" (disk full, read-only,
I/O error, cannot open, busy past the timeout) rather than "this write is wrong", and a
sentence for a person about each: the ledger holds and retries on these."""

from __future__ import annotations

import apsw

#: The SQLite errors that mean "the storage cannot take writes now", not "this write is
#: wrong": the ledger holds and retries on these.
UNAVAILABLE_ERRORS: tuple[type[apsw.Error], ...] = (
    apsw.FullError,
    apsw.IOError,
    apsw.ReadOnlyError,
    apsw.CantOpenError,
    apsw.BusyError,
)


def describe_unavailable(exc: apsw.Error) -> str:
    """A sentence for a person: what is wrong with the storage."""
    detail = str(exc).split("\n")[0]
    if isinstance(exc, apsw.FullError):
        return f"the disk is full (SQLITE_FULL: {detail})"
    if isinstance(exc, apsw.ReadOnlyError):
        return f"it is read-only (SQLITE_READONLY: {detail})"
    if isinstance(exc, apsw.CantOpenError):
        return f"a database file cannot be opened or created (SQLITE_CANTOPEN: {detail})"
    if isinstance(exc, apsw.BusyError):
        return f"another process holds the database lock (SQLITE_BUSY: {detail})"
    return f"a disk I/O error (SQLITE_IOERR: {detail})"

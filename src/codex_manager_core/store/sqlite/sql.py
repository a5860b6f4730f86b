"""SQL helpers the per-domain modules of `SqliteStore` share: statement builders, the
one-row read, and the operations a mutation compiles to (`Op`: run on the write
connection inside the batch's transaction)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import apsw

from codex_manager_core.models import RequestStatus
from codex_manager_core.store.codec import Row

Op: TypeAlias = Callable[[apsw.Connection], None]
"""A compiled mutation: runs inside the batch's transaction on the write connection."""

OPEN_STATUSES = (RequestStatus.PENDING.value, RequestStatus.RESOLVING.value)


def upsert(table: str, columns: Iterable[str], key: Iterable[str]) -> str:
    """An upsert (not INSERT OR REPLACE, which deletes first): a replaced row keeps its
    rowid, which is what keeps a transcript entry in place and ties in creation order
    stable."""
    columns = tuple(columns)
    key = tuple(key)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def select(table: str, columns: Iterable[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def one(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
    # fetchall, not fetchone: the statement runs to completion, so no read transaction is
    # left open on the connection (which would pin a WAL snapshot).
    rows = conn.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else None


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def where_clause(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def execute(sql: str, params: tuple[Any, ...]) -> Op:
    def op(conn: apsw.Connection) -> None:
        conn.execute(sql, params)

    return op


def update(table: str, key_column: str, key: str, encoded: dict[str, Any]) -> Op:
    """UPDATE of some columns; a missing row is a no-op. Column names were validated
    against the table's fields by `RecordCodec.encode_changes`, so interpolating them is
    safe."""
    if not encoded:
        return lambda conn: None
    assignments = ", ".join(f"{column} = ?" for column in encoded)
    return execute(
        f"UPDATE {table} SET {assignments} WHERE {key_column} = ?", (*encoded.values(), key)
    )


__all__ = [
    "OPEN_STATUSES",
    "Op",
    "execute",
    "one",
    "placeholders",
    "select",
    "update",
    "upsert",
    "where_clause",
]

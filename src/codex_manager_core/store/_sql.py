"""The SQL of SqliteStore: statements, the SELECTs behind its queries, and the operations
mutations compile to. Kept apart from the store's connections and transactions
(`sqlite.py`), which is what a reader of that module is there for."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import apsw

from codex_manager_core.models import RequestStatus
from codex_manager_core.store import _codec as codec
from codex_manager_core.store.batch import EventQuery, SessionQuery, StoreConflict

Op: TypeAlias = Callable[[apsw.Connection], None]

OPEN_STATUSES = (RequestStatus.PENDING.value, RequestStatus.RESOLVING.value)


def upsert(table: str, columns: Iterable[str], key: Iterable[str]) -> str:
    columns = tuple(columns)
    key = tuple(key)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


# Upserts (not INSERT OR REPLACE, which deletes first): a replaced row keeps its rowid,
# which is what keeps a transcript entry in place and ties in creation order stable.
UPSERT_PROJECT = upsert("projects", codec.PROJECT_COLUMNS, ["project_id"])
UPSERT_SESSION = upsert("sessions", codec.SESSION_COLUMNS, ["session_id"])
UPSERT_TOMBSTONE = upsert("tombstones", codec.TOMBSTONE_COLUMNS, ["session_id"])
UPSERT_TURN = upsert("turns", codec.TURN_COLUMNS, ["turn_id"])
UPSERT_REQUEST = upsert("requests", codec.REQUEST_COLUMNS, ["request_id"])
UPSERT_TRANSCRIPT = upsert("transcript", codec.TRANSCRIPT_COLUMNS, ["thread_id", "message_id"])
UPSERT_META = upsert("meta", ["key", "value"], ["key"])
UPSERT_CONTROLS = upsert("default_controls", ["id", "controls"], ["id"])
INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(codec.EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
COMPACT = (
    "DELETE FROM events WHERE delta = 1 AND at < ? AND item_id IN "
    "(SELECT item_id FROM events WHERE item_id IS NOT NULL AND type = ?)"
)

UPDATED_AT = codec.SESSION_COLUMNS.index("updated_at")
SESSION_SELECT = f"SELECT {', '.join(codec.SESSION_COLUMNS)} FROM sessions"
TURN_SELECT = f"SELECT {', '.join(codec.TURN_COLUMNS)} FROM turns"
REQUEST_SELECT = f"SELECT {', '.join(codec.REQUEST_COLUMNS)} FROM requests"
PROJECT_SELECT = f"SELECT {', '.join(codec.PROJECT_COLUMNS)} FROM projects"
TRANSCRIPT_SELECT = f"SELECT {', '.join(codec.TRANSCRIPT_COLUMNS)} FROM transcript"
EVENT_SELECT = f"SELECT {', '.join(codec.EVENT_COLUMNS)} FROM events"


def one(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> codec.Row | None:
    # fetchall, not fetchone: the statement runs to completion, so no read transaction is
    # left open on the connection (which would pin a WAL snapshot).
    rows = conn.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else None


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def where_clause(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def sessions_sql(query: SessionQuery) -> tuple[str, list[Any]]:
    """The SELECT for one page of `list_sessions`: `limit + 1` rows, to know if there is a
    next page."""
    where, params = session_filter(query)
    if query.cursor is not None:
        # A row value comparison is one range on the index tail (updated_at, session_id),
        # unlike the equivalent OR of two conditions.
        where.append("(updated_at, session_id) < (?, ?)")
        params.extend(codec.decode_cursor(query.cursor))
    sql = (
        f"{SESSION_SELECT} INDEXED BY {session_index(query)}{where_clause(where)} "
        f"ORDER BY updated_at DESC, session_id DESC LIMIT {int(query.limit) + 1}"
    )
    return sql, params


def session_index(query: SessionQuery) -> str:
    """The index that serves a listing of this shape (see migration 1).

    Chosen here rather than by the planner: without statistics SQLite sometimes prefers an
    index with more equality columns that does not match the filter (e.g. the user's list
    for a project's page after a cursor), and ends up scanning thousands of rows."""
    pinned = query.archived is not None and not query.include_system_owned
    if query.project_id is not None:
        return "sessions_project"
    if pinned:
        return "sessions_listing"
    if query.archived is not None:
        return "sessions_archived"
    return "sessions_recent"


MERGE_THREADS = 16
"""Up to this many thread ids, read_events merges one bounded index range per thread."""


def events_sql(query: EventQuery) -> tuple[str, list[Any]]:
    """The SELECT for `read_events` (query.limit >= 1), shaped so that a page costs about
    `limit` rows whatever the size of the ledger:

    - no thread filter: the seq (rowid) range from `since`, skipping system events;
    - one thread: the (thread_id, seq) index range, already in order;
    - a few threads: one such range per thread, each cut at `limit`, merged by seq (a
      plain `thread_id IN (...)` would read and sort every event of those threads after
      `since` to produce one page);
    - many threads: the seq range again, keeping the rows of those threads.
    """
    where = ["seq > ?"]
    params: list[Any] = [query.since]
    if query.until is not None:
        where.append("seq <= ?")
        params.append(query.until)
    if query.type_prefixes is not None:
        # substr() compares exactly: case-sensitive, no LIKE/GLOB wildcards to escape.
        prefixes = query.type_prefixes
        where.append(
            "(" + " OR ".join(["substr(type, 1, ?) = ?"] * len(prefixes)) + ")" if prefixes else "0"
        )
        for prefix in prefixes:
            params.extend((len(prefix), prefix))
    order = f"ORDER BY seq LIMIT {int(query.limit)}"
    threads = None if query.thread_ids is None else sorted(query.thread_ids)
    if threads is None:
        return f"{EVENT_SELECT} WHERE system = 0 AND {' AND '.join(where)} {order}", params
    # With thread ids: exactly the events of those threads, their system events included.
    if not threads:
        return f"{EVENT_SELECT} WHERE 0 {order}", []
    if len(threads) == 1:
        sql = f"{EVENT_SELECT} INDEXED BY events_thread WHERE thread_id = ? AND "
        return sql + f"{' AND '.join(where)} {order}", [threads[0], *params]
    if len(threads) <= MERGE_THREADS:
        arm = (
            f"SELECT * FROM ({EVENT_SELECT} INDEXED BY events_thread "
            f"WHERE thread_id = ? AND {' AND '.join(where)} {order})"
        )
        merged: list[Any] = []
        for thread in threads:
            merged.extend((thread, *params))
        return f"{' UNION ALL '.join([arm] * len(threads))} {order}", merged
    in_list = f"thread_id IN ({placeholders(len(threads))})"
    sql = f"{EVENT_SELECT} NOT INDEXED WHERE {' AND '.join(where)} AND {in_list} {order}"
    return sql, [*params, *threads]


def session_filter(query: SessionQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.archived is not None:
        where.append("archived = ?")
        params.append(int(query.archived))
    if not query.include_system_owned:
        where.append("system_owned = 0")
    if query.project_id == "":
        where.append("project_id IS NULL")
    elif query.project_id is not None:
        where.append("project_id = ?")
        params.append(query.project_id)
    return where, params


def execute(sql: str, params: tuple[Any, ...]) -> Op:
    def op(conn: apsw.Connection) -> None:
        conn.execute(sql, params)

    return op


def update(table: str, key_column: str, key: str, encoded: dict[str, Any]) -> Op:
    """UPDATE of some columns; a missing row is a no-op. Column names were validated
    against the table's fields by `codec.encode_changes`, so interpolating them is safe."""
    if not encoded:
        return lambda conn: None
    assignments = ", ".join(f"{column} = ?" for column in encoded)
    return execute(
        f"UPDATE {table} SET {assignments} WHERE {key_column} = ?", (*encoded.values(), key)
    )


def transition(request_id: str, expected: list[str], encoded: dict[str, Any]) -> Op:
    assignments = ", ".join(f"{column} = ?" for column in encoded)
    sql = f"UPDATE requests SET {assignments} WHERE request_id = ?"
    params = (*encoded.values(), request_id)

    def op(conn: apsw.Connection) -> None:
        row = one(conn, "SELECT status FROM requests WHERE request_id = ?", (request_id,))
        current = None if row is None else str(row[0])
        if current is None or current not in expected:
            raise StoreConflict(f"request {request_id}", current, expected)
        conn.execute(sql, params)

    return op


def delete_session(tombstone: codec.Row, reason: str) -> Op:
    session_id, _title, deleted_at = tombstone
    if not isinstance(reason, str):
        raise TypeError("DeleteSession.reason must be a str")

    def op(conn: apsw.Connection) -> None:
        conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        conn.execute("DELETE FROM turns WHERE thread_id = ?", (session_id,))
        conn.execute("DELETE FROM transcript WHERE thread_id = ?", (session_id,))
        conn.execute(
            "UPDATE requests SET status = ?, reason = ?, resolved_at = ? "
            "WHERE thread_id = ? AND status IN (?, ?)",
            (RequestStatus.INVALIDATED.value, reason, deleted_at, session_id, *OPEN_STATUSES),
        )
        conn.execute(UPSERT_TOMBSTONE, tombstone)

    return op

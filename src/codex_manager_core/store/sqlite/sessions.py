"""SqliteStore, domain "sessions": the `sessions` table (with its keyset-paged listing),
`default_controls`, and `tombstones` (a session's delete touches turns, transcript and
requests too: the rows of that session)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import apsw

from codex_manager_core.models import Controls, RequestStatus, SessionRecord, Tombstone
from codex_manager_core.ports.store.sessions import (
    DeleteSession,
    Page,
    PatchSession,
    PutDefaultControls,
    PutSession,
    SessionQuery,
)
from codex_manager_core.store import codec
from codex_manager_core.store.codec import SESSIONS, TOMBSTONES
from codex_manager_core.store.sqlite.sql import (
    OPEN_STATUSES,
    Op,
    execute,
    one,
    select,
    update,
    upsert,
    where_clause,
)

UPSERT_SESSION = upsert("sessions", SESSIONS.columns, ["session_id"])
UPSERT_TOMBSTONE = upsert("tombstones", TOMBSTONES.columns, ["session_id"])
UPSERT_CONTROLS = upsert("default_controls", ["id", "controls"], ["id"])
SESSION_SELECT = select("sessions", SESSIONS.columns)
TOMBSTONE_SELECT = select("tombstones", TOMBSTONES.columns)
UPDATED_AT = SESSIONS.columns.index("updated_at")


def compile_put(mutation: PutSession) -> Op:
    return execute(UPSERT_SESSION, SESSIONS.encode(mutation.session))


def compile_patch(mutation: PatchSession) -> Op:
    encoded = SESSIONS.encode_changes(mutation.changes, ("session_id",))
    return update("sessions", "session_id", mutation.session_id, encoded)


def compile_delete(mutation: DeleteSession) -> Op:
    tombstone = TOMBSTONES.encode(mutation.tombstone)
    session_id, _title, deleted_at = tombstone
    reason = mutation.reason
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


def compile_default_controls(mutation: PutDefaultControls) -> Op:
    return execute(UPSERT_CONTROLS, (1, codec.controls_to_json(mutation.controls)))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    PutSession: compile_put,
    PatchSession: compile_patch,
    DeleteSession: compile_delete,
    PutDefaultControls: compile_default_controls,
}


# ---------------------------------------------------------------------- reads


def get_session(conn: apsw.Connection, session_id: str) -> SessionRecord | None:
    row = one(conn, f"{SESSION_SELECT} WHERE session_id = ?", (session_id,))
    return None if row is None else SESSIONS.decode(row)


def get_tombstone(conn: apsw.Connection, session_id: str) -> Tombstone | None:
    row = one(conn, f"{TOMBSTONE_SELECT} WHERE session_id = ?", (session_id,))
    return None if row is None else TOMBSTONES.decode(row)


def get_default_controls(conn: apsw.Connection) -> Controls | None:
    row = one(conn, "SELECT controls FROM default_controls WHERE id = 1")
    return None if row is None else codec.controls_from_json(row[0])


def page(rows: list[Any], query: SessionQuery) -> Page:
    """One page of `list_sessions` from the `limit + 1` rows of `sessions_sql`."""
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    sessions = tuple(SESSIONS.decode(row) for row in rows)
    next_cursor = None
    if more:
        # The stored float itself, so the next page starts exactly after this row.
        last = rows[-1]
        next_cursor = codec.encode_cursor(cast(float, last[UPDATED_AT]), str(last[0]))
    return Page(items=sessions, next_cursor=next_cursor)


def count_sql(query: SessionQuery) -> tuple[str, tuple[Any, ...]]:
    where, params = session_filter(query)
    return f"SELECT count(*) FROM sessions{where_clause(where)}", tuple(params)


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

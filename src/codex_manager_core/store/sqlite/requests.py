"""SqliteStore, domain "interactive requests": the `requests` table, and the
compare-and-set (`TransitionRequest`) that makes exactly one answer win."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.models import InteractiveRequest, RequestStatus
from codex_manager_core.ports.store.errors import StoreConflict
from codex_manager_core.ports.store.requests import PutRequest, RequestQuery, TransitionRequest
from codex_manager_core.store.codec import REQUESTS
from codex_manager_core.store.sqlite.sql import (
    Op,
    execute,
    one,
    placeholders,
    select,
    upsert,
    where_clause,
)

UPSERT_REQUEST = upsert("requests", REQUESTS.columns, ["request_id"])
REQUEST_SELECT = select("requests", REQUESTS.columns)


def compile_put(mutation: PutRequest) -> Op:
    return execute(UPSERT_REQUEST, REQUESTS.encode(mutation.request))


def compile_transition(mutation: TransitionRequest) -> Op:
    encoded = REQUESTS.encode_changes(mutation.changes, ("request_id", "status"))
    encoded["status"] = RequestStatus(mutation.to_status).value
    expected = [RequestStatus(status).value for status in mutation.from_statuses]
    request_id = mutation.request_id
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


COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    PutRequest: compile_put,
    TransitionRequest: compile_transition,
}


def get_request(conn: apsw.Connection, request_id: str) -> InteractiveRequest | None:
    row = one(conn, f"{REQUEST_SELECT} WHERE request_id = ?", (request_id,))
    return None if row is None else REQUESTS.decode(row)


def requests_sql(query: RequestQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.thread_id is not None:
        where.append("thread_id = ?")
        params.append(query.thread_id)
    if query.turn_id is not None:
        where.append("turn_id = ?")
        params.append(query.turn_id)
    if query.statuses is not None:
        where.append(f"status IN ({placeholders(len(query.statuses))})")
        params.extend(RequestStatus(status).value for status in query.statuses)
    if query.kinds is not None:
        where.append(f"kind IN ({placeholders(len(query.kinds))})")
        params.extend(str(kind) for kind in query.kinds)
    if query.generation is not None:
        where.append("generation = ?")
        params.append(query.generation)
    if query.generation_below is not None:
        where.append("generation < ?")
        params.append(query.generation_below)
    return f"{REQUEST_SELECT}{where_clause(where)} ORDER BY created_at, rowid", params

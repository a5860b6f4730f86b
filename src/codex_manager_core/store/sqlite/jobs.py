"""SqliteStore, domain "jobs": the `jobs` table (migration 4), the compare-and-set
(`TransitionJob`) that lets one runner take a job and one outcome end it, and the reads the
scheduler, capacity checks and listings use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import apsw

from codex_manager_core.ports.store.errors import StoreConflict
from codex_manager_core.ports.store.jobs import (
    DeleteJobs,
    JobQuery,
    PatchJob,
    PutJob,
    TransitionJob,
)
from codex_manager_core.ports.store.sessions import Page
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.store import codec
from codex_manager_core.store.codec import JOBS
from codex_manager_core.store.sqlite.sql import (
    Op,
    execute,
    one,
    placeholders,
    select,
    upsert,
    where_clause,
)

UPSERT_JOB = upsert("jobs", JOBS.columns, ["job_id"])
JOB_SELECT = select("jobs", JOBS.columns)
CREATED_AT = JOBS.columns.index("created_at")
#: The patch names a job's state is protected from: only TransitionJob moves it.
FIXED = ("job_id", "state")
ANY_STATE = [state.value for state in JobState]


def compile_put(mutation: PutJob) -> Op:
    return execute(UPSERT_JOB, JOBS.encode(mutation.job))


def _guarded_update(job_id: str, encoded: dict[str, Any], expected: list[str]) -> Op:
    """UPDATE of some columns of a job that must exist in one of the `expected` states;
    otherwise StoreConflict, which rolls the whole batch back."""
    codec.check_str(job_id, "job.job_id")
    # One statement, the state checked in its WHERE: the row is read only when it did not
    # match, to say why (a compare-and-set per transition is on every job's path).
    shape: tuple[object, ...] = (*encoded, len(expected))
    sql = _UPDATES.get(shape)
    if sql is None:
        assignments = ", ".join(f"{column} = ?" for column in encoded) or "state = state"
        sql = (
            f"UPDATE jobs SET {assignments} WHERE job_id = ? "
            f"AND state IN ({placeholders(len(expected))})"
        )
        if len(_UPDATES) < 256:
            _UPDATES[shape] = sql
    params = (*encoded.values(), job_id, *expected)

    def op(conn: apsw.Connection) -> None:
        conn.execute(sql, params)
        if conn.changes() == 0:
            row = one(conn, "SELECT state FROM jobs WHERE job_id = ?", (job_id,))
            raise StoreConflict(f"job {job_id}", None if row is None else str(row[0]), expected)

    return op


_UPDATES: dict[tuple[object, ...], str] = {}
"""The guarded UPDATE of each shape (columns, number of states): the queue's few."""


def _state(state: JobState | str) -> str:
    return state.value if isinstance(state, JobState) else JobState(state).value


def compile_transition(mutation: TransitionJob) -> Op:
    encoded = JOBS.encode_changes(mutation.changes, FIXED)
    encoded["state"] = _state(mutation.to_state)
    expected = [_state(state) for state in mutation.from_states]
    return _guarded_update(mutation.job_id, encoded, expected)


def compile_patch(mutation: PatchJob) -> Op:
    encoded = JOBS.encode_changes(mutation.changes, FIXED)
    return _guarded_update(mutation.job_id, encoded, ANY_STATE)


def compile_delete(mutation: DeleteJobs) -> Op:
    job_ids = tuple(codec.check_str(job_id, "job.job_id") for job_id in mutation.job_ids)
    if not job_ids:
        return lambda conn: None
    return execute(f"DELETE FROM jobs WHERE job_id IN ({placeholders(len(job_ids))})", job_ids)


COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    PutJob: compile_put,
    TransitionJob: compile_transition,
    PatchJob: compile_patch,
    DeleteJobs: compile_delete,
}


# ---------------------------------------------------------------------- reads


def get_job(conn: apsw.Connection, job_id: str) -> Job | None:
    row = one(conn, f"{JOB_SELECT} WHERE job_id = ?", (job_id,))
    return None if row is None else JOBS.decode(row)


def jobs_sql(query: JobQuery) -> tuple[str, list[Any]]:
    """The SELECT for one page of `list_jobs`: `limit + 1` rows, to know if there is a
    next page. Raises ValueError for a bad limit or cursor."""
    if query.limit < 1:
        raise ValueError(f"limit must be at least 1, got {query.limit}")
    where: list[str] = []
    params: list[Any] = []
    if query.owner is not None:
        where.append("owner = ?")
        params.append(query.owner)
    if query.dedupe_key is not None:
        where.append("dedupe_key = ?")
        params.append(codec.check_str(query.dedupe_key, "job.dedupe_key"))
    if query.states is not None:
        where.append(f"state IN ({placeholders(len(query.states))})")
        params.extend(JobState(state).value for state in query.states)
    if query.types is not None:
        where.append(f"type IN ({placeholders(len(query.types))})")
        params.extend(codec.check_str(job_type, "job.type") for job_type in query.types)
    if query.cursor is not None:
        # A row value comparison: one range on the (created_at, job_id) tail of the index.
        where.append("(created_at, job_id) < (?, ?)")
        params.extend(codec.decode_cursor(query.cursor, "job"))
    sql = (
        f"{JOB_SELECT}{where_clause(where)} "
        f"ORDER BY created_at DESC, job_id DESC LIMIT {int(query.limit) + 1}"
    )
    return sql, params


def page(rows: list[Any], query: JobQuery) -> Page:
    """One page of `list_jobs` from the `limit + 1` rows of `jobs_sql`."""
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = None
    if more:
        # The stored float itself, so the next page starts exactly after this row.
        last = rows[-1]
        next_cursor = codec.encode_cursor(cast(float, last[CREATED_AT]), str(last[0]))
    return Page(items=tuple(JOBS.decode(row) for row in rows), next_cursor=next_cursor)


def count_jobs(conn: apsw.Connection, owner: str | None) -> dict[JobState, int]:
    counts = dict.fromkeys(JobState, 0)
    if owner is None:
        rows = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
    else:
        rows = conn.execute(
            "SELECT state, count(*) FROM jobs WHERE owner = ? GROUP BY state", (owner,)
        ).fetchall()
    for state, count in rows:
        counts[JobState(str(state))] = cast(int, count)
    return counts


def jobs_in_state(conn: apsw.Connection, state: JobState, limit: int | None) -> list[Job]:
    """The jobs in one state, oldest first (the `jobs_state_created` index, no sort)."""
    sql = f"{JOB_SELECT} WHERE state = ? ORDER BY created_at, job_id"
    params: tuple[Any, ...] = (state.value,)
    if limit is not None:
        sql += " LIMIT ?"
        params = (state.value, max(0, int(limit)))
    return [JOBS.decode(row) for row in conn.execute(sql, params).fetchall()]

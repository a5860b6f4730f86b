"""SqliteStore, domain "workers": the `workers` table (migration 6), one row per
(owner, agent) worker session."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.ports.store.workers import DeleteWorkers, PutWorker, WorkerRecord
from codex_manager_core.store.codec import WORKERS, check_str
from codex_manager_core.store.sqlite.sql import Op, execute, one, select, upsert

UPSERT_WORKER = upsert("workers", WORKERS.columns, ["owner", "agent"])
WORKER_SELECT = select("workers", WORKERS.columns)


def compile_put(mutation: PutWorker) -> Op:
    return execute(UPSERT_WORKER, WORKERS.encode(mutation.record))


def compile_delete(mutation: DeleteWorkers) -> Op:
    owner = check_str(mutation.owner, "worker.owner")
    if mutation.agent is None:
        return execute("DELETE FROM workers WHERE owner = ?", (owner,))
    agent = check_str(mutation.agent, "worker.agent")
    return execute("DELETE FROM workers WHERE owner = ? AND agent = ?", (owner, agent))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    PutWorker: compile_put,
    DeleteWorkers: compile_delete,
}


def get_worker(conn: apsw.Connection, owner: str, agent: str) -> WorkerRecord | None:
    row = one(conn, f"{WORKER_SELECT} WHERE owner = ? AND agent = ?", (owner, agent))
    return None if row is None else WORKERS.decode(row)


def list_workers(conn: apsw.Connection, owner: str) -> list[WorkerRecord]:
    rows = conn.execute(f"{WORKER_SELECT} WHERE owner = ? ORDER BY agent", (owner,)).fetchall()
    return [WORKERS.decode(row) for row in rows]

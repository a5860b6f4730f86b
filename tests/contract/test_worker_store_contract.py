"""The workers domain of the Store port: (owner, agent) -> worker session, one suite for
every adapter ({memory, sqlite} x {asyncio, trio}); SQLite's reopen at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    Batch,
    DeleteWorkers,
    PutWorker,
    StoreConflict,
    TransitionJob,
    WorkerRecord,
)
from codex_manager_core.queue.model import JobState
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def worker(owner: str, agent: str, session_id: str, seconds: float = 0.0) -> WorkerRecord:
    return WorkerRecord(owner, agent, session_id, T0 + timedelta(seconds=seconds))


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


async def put(store: Store, *records: WorkerRecord) -> None:
    await store.apply(Batch(tuple(PutWorker(record) for record in records)))


async def test_put_get_and_list_by_owner_sorted_by_agent(store: Store) -> None:
    await put(
        store,
        worker("p1", "supervisor", "s2"),
        worker("p1", "default", "s1"),
        worker("session:x", "default", "s3"),
    )
    assert await store.get_worker("p1", "default") == worker("p1", "default", "s1")
    assert await store.get_worker("p1", "nobody") is None
    assert await store.get_worker("p2", "default") is None
    assert [w.agent for w in await store.list_workers("p1")] == ["default", "supervisor"]
    assert await store.list_workers("session:x") == [worker("session:x", "default", "s3")]
    assert await store.list_workers("p9") == []


async def test_put_replaces_the_worker_of_the_same_pair(store: Store) -> None:
    await put(store, worker("p1", "default", "old"))
    await put(store, worker("p1", "default", "new", 5))
    assert await store.list_workers("p1") == [worker("p1", "default", "new", 5)]


async def test_created_at_reads_back_as_utc(store: Store) -> None:
    local = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    await put(store, WorkerRecord("p1", "default", "s1", local))
    read = await store.get_worker("p1", "default")
    assert read is not None
    assert read.created_at == local
    assert read.created_at.tzinfo == UTC


async def test_delete_one_agent_or_every_worker_of_an_owner(store: Store) -> None:
    await put(
        store,
        worker("p1", "default", "s1"),
        worker("p1", "supervisor", "s2"),
        worker("p2", "default", "s3"),
    )
    await store.apply(Batch((DeleteWorkers("p1", "supervisor"),)))
    assert [w.agent for w in await store.list_workers("p1")] == ["default"]
    await store.apply(Batch((DeleteWorkers("p1"),)))
    assert await store.list_workers("p1") == []
    assert await store.list_workers("p2") == [worker("p2", "default", "s3")]
    await store.apply(Batch((DeleteWorkers("nobody", "default"),)))  # nothing to forget


async def test_a_failing_batch_writes_no_worker(store: Store) -> None:
    conflict = TransitionJob("missing-job", (JobState.QUEUED,), JobState.RUNNING)
    with pytest.raises(StoreConflict):
        await store.apply(Batch((PutWorker(worker("p1", "default", "s1")), conflict)))
    assert await store.get_worker("p1", "default") is None
    await put(store, worker("p1", "default", "s1"))
    with pytest.raises(StoreConflict):
        await store.apply(Batch((DeleteWorkers("p1"), conflict)))
    assert await store.get_worker("p1", "default") == worker("p1", "default", "s1")


async def test_a_naive_datetime_or_non_string_is_refused(store: Store) -> None:
    with pytest.raises((TypeError, ValueError)):
        await put(store, WorkerRecord("p1", "default", "s1", datetime(2026, 1, 1)))
    with pytest.raises((TypeError, ValueError)):
        await put(store, WorkerRecord("p1", 5, "s1", T0))  # type: ignore[arg-type]
    assert await store.list_workers("p1") == []


async def test_sqlite_workers_survive_a_reopen(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "s.db")
    await first.open()
    await put(first, worker("p1", "default", "s1"))
    await first.close()
    second = SqliteStore(tmp_path / "s.db")
    await second.open()
    try:
        assert await second.get_worker("p1", "default") == worker("p1", "default", "s1")
    finally:
        await second.close()

"""The extension_audit domain of the Store port, one suite for every adapter
({memory, sqlite} x {asyncio, trio}): records read back newest first, bounded to the newest
`keep`, atomic with their batch, durable across a reopen; and the audit rows that
manager.extensions writes for each attempt (success, failed, forbidden)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from codex_manager_core.errors import ReloadFailed
from codex_manager_core.models import EventDraft
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    AuditRecord,
    Batch,
    PutActionReceipt,
    PutAuditRecord,
    StoreConflict,
)
from codex_manager_core.ports.store.actions import ActionReceipt
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore
from tests.unit.extension_fixtures import named, service, write_extension

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


def record(n: int, **changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "reload_id": f"r{n}",
        "recorded_at": T0 + timedelta(seconds=n),
        "actor_role": "admin",
        "actor_id": "ada",
        "result": "success",
        "trust_mode": "enforced",
        "request_origin": {"ip": "127.0.0.1", "userAgent": "pytest"},
        "snapshot_before": None,
        "snapshot_after": f"v{n}",
        "error_summary": None,
        "impacted_extensions": ("a", "b"),
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


async def test_records_read_back_newest_first(store: Store) -> None:
    assert await store.list_extension_audit() == []
    await store.apply(Batch((PutAuditRecord(record(1)),)))
    failed = record(2, result="failed", error_summary="x: import_failed", snapshot_after="v1")
    await store.apply(Batch((PutAuditRecord(failed),)))
    assert await store.list_extension_audit() == [failed, record(1)]
    assert await store.list_extension_audit(limit=1) == [failed]


async def test_only_the_newest_keep_records_are_kept(store: Store) -> None:
    for n in range(5):
        await store.apply(Batch((PutAuditRecord(record(n), keep=3),)))
    assert [r.reload_id for r in await store.list_extension_audit()] == ["r4", "r3", "r2"]
    with pytest.raises(ValueError, match="keep"):
        await store.apply(Batch((PutAuditRecord(record(9), keep=0),)))


async def test_a_failing_batch_writes_no_record_and_times_are_utc(store: Store) -> None:
    receipt = ActionReceipt("k", "f", {}, T0)
    await store.apply(Batch((PutActionReceipt(receipt),)))
    with pytest.raises(StoreConflict):
        await store.apply(
            Batch(
                (PutAuditRecord(record(1)), PutActionReceipt(receipt)),
                (EventDraft("x", None, {}, T0),),
            )
        )
    assert await store.list_extension_audit() == []
    local = T0.astimezone(timezone(timedelta(hours=-3)))
    await store.apply(Batch((PutAuditRecord(record(1, recorded_at=local)),)))
    [stored] = await store.list_extension_audit()
    assert stored.recorded_at == T0
    assert stored.recorded_at.tzinfo == UTC
    with pytest.raises((TypeError, ValueError)):
        await store.apply(Batch((PutAuditRecord(record(2, request_origin={"x": object()})),)))


async def test_the_service_audits_every_attempt(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "roots"
    write_extension(root, "a", manifest=named("a"))
    extensions = service(store, roots=(root,), keep=10)
    first = await extensions.load_initial()
    second = await extensions.reload(actor="ada", role="admin", origin={"ip": "10.0.0.1"})
    write_extension(root, "b", manifest=named("b"), code="def register(:\n")
    with pytest.raises(ReloadFailed):
        await extensions.reload(actor="bob", role="owner")
    await extensions.record_denied(
        actor="eve",
        role="member",
        origin={"ip": "10.0.0.9", "userAgent": "curl"},
        reason="insufficient_role",
    )
    denied, failed, reloaded, initial = await extensions.audit()
    assert (initial.result, initial.actor_id, initial.snapshot_before) == (
        "success",
        "system",
        None,
    )
    assert initial.snapshot_after == first.version
    assert initial.impacted_extensions == ("a",)
    assert (reloaded.actor_id, reloaded.actor_role) == ("ada", "admin")
    assert reloaded.request_origin == {"ip": "10.0.0.1"}
    assert (reloaded.snapshot_before, reloaded.snapshot_after) == (first.version, second.version)
    assert failed.result == "failed"
    assert failed.snapshot_after == failed.snapshot_before == second.version
    assert "import_failed" in (failed.error_summary or "")
    assert failed.impacted_extensions == (str(root / "b"),)
    assert (denied.result, denied.actor_id, denied.error_summary) == (
        "forbidden",
        "eve",
        "insufficient_role",
    )
    assert denied.trust_mode == "enforced"
    assert len({r.reload_id for r in (denied, failed, reloaded, initial)}) == 4


async def test_audit_rows_survive_a_reopen(tmp_path: Path) -> None:
    root = tmp_path / "roots"
    write_extension(root, "a", manifest=named("a"))
    first = SqliteStore(tmp_path / "s.db")
    await first.open()
    try:
        snapshot = await service(first, roots=(root,)).load_initial()
    finally:
        await first.close()
    second = SqliteStore(tmp_path / "s.db")
    await second.open()
    try:
        [row] = await service(second).audit()
        assert row.snapshot_after == snapshot.version
        assert row.impacted_extensions == ("a",)
    finally:
        await second.close()

"""The actions domain of the Store port (idempotency receipts), one suite for every
adapter: {memory, sqlite} x {asyncio, trio}. A receipt is only inserted; a second one for
its key fails the whole batch, nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from codex_manager_core.models import EventDraft
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    ActionReceipt,
    Batch,
    EventQuery,
    PutActionReceipt,
    StoreConflict,
)
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore

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


def receipt(key: str = "k1", fingerprint: str = "f1") -> ActionReceipt:
    result = {"kind": "session.rename", "status": "performed", "result": {"n": [1, 2.5, None]}}
    return ActionReceipt(key, fingerprint, result, T0)


async def test_a_receipt_reads_back_as_written(store: Store) -> None:
    assert await store.get_action_receipt("k1") is None
    await store.apply(Batch((PutActionReceipt(receipt()),)))
    assert await store.get_action_receipt("k1") == receipt()


async def test_a_second_receipt_for_a_key_fails_the_batch(store: Store) -> None:
    await store.apply(Batch((PutActionReceipt(receipt()),)))
    draft = EventDraft("action_executed", None, {"x": 1}, T0)
    with pytest.raises(StoreConflict) as caught:
        await store.apply(
            Batch(
                (PutActionReceipt(receipt("k2")), PutActionReceipt(receipt("k1", "f2"))), (draft,)
            )
        )
    assert caught.value.key == "action receipt k1"
    assert await store.get_action_receipt("k2") is None
    assert (await store.get_action_receipt("k1")) == receipt()
    assert await store.read_events(EventQuery()) == []


async def test_times_come_back_in_utc_and_bad_values_fail(store: Store) -> None:
    local = T0.astimezone(timezone(timedelta(hours=5)))
    await store.apply(Batch((PutActionReceipt(ActionReceipt("k", "f", {}, local)),)))
    stored = await store.get_action_receipt("k")
    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.tzinfo == UTC
    with pytest.raises((TypeError, ValueError)):
        await store.apply(
            Batch((PutActionReceipt(ActionReceipt("bad", "f", {"x": object()}, T0)),))
        )
    assert await store.get_action_receipt("bad") is None


async def test_receipts_survive_a_reopen(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "r.db")
    await first.open()
    await first.apply(Batch((PutActionReceipt(receipt()),)))
    await first.close()
    second = SqliteStore(tmp_path / "r.db")
    await second.open()
    try:
        assert await second.get_action_receipt("k1") == receipt()
    finally:
        await second.close()

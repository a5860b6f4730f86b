"""SqliteStore on a disk that fails: full, read-only, I/O errors (QuotaVFS, no root needed).

A refused write raises StoreUnavailable naming the data directory and stores nothing; the
store keeps working once the disk does; and the WAL, which grows while checkpoints cannot
complete, is brought back to a bounded size when writes resume and on close.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from codex_manager_core.errors import StoreUnavailable
from codex_manager_core.models import EventDraft
from codex_manager_core.ports.store import Batch, EventQuery, SetMeta
from codex_manager_core.store.sqlite import WAL_SIZE_LIMIT, SqliteStore
from codex_manager_core.testing import QuotaVFS

pytestmark = pytest.mark.anyio


@pytest.fixture
def vfs() -> Iterator[QuotaVFS]:
    with QuotaVFS() as quota:
        yield quota


def events(count: int, size: int = 100) -> Batch:
    return Batch(events=tuple(EventDraft("t", "th", {"pad": "x" * size}) for _ in range(count)))


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_a_full_disk_refuses_the_write_names_the_data_dir_and_stores_nothing(
    tmp_path: Path, vfs: QuotaVFS
) -> None:
    store = SqliteStore(tmp_path / "data" / "m.db", vfs=vfs.name)
    await store.open()
    try:
        await store.apply(events(3))
        vfs.fill()
        with pytest.raises(StoreUnavailable) as raised:
            await store.apply(Batch((SetMeta("k", "v"),), events(50, 1000).events))
        assert raised.value.location == str(tmp_path / "data")
        assert "disk is full" in raised.value.reason
        assert str(tmp_path / "data") in str(raised.value)
        assert vfs.refused_writes >= 1
        # Reads keep working, and nothing of the refused batch is there.
        assert await store.last_seq() == 3
        assert await store.get_meta("k") is None
        vfs.free()
        written = await store.apply(events(2))
        assert [event.seq for event in written] == [4, 5]  # no seq was consumed
        stored = await store.read_events(EventQuery(since=0, limit=100))
        assert [event.seq for event in stored] == [1, 2, 3, 4, 5]
    finally:
        vfs.free()
        await store.close()


@pytest.mark.parametrize(
    ("error", "says"),
    [(apsw.IOError, "disk I/O error"), (apsw.ReadOnlyError, "read-only")],
    ids=["ioerr", "readonly"],
)
async def test_io_and_read_only_errors_are_store_unavailable(
    tmp_path: Path, vfs: QuotaVFS, error: type[apsw.Error], says: str
) -> None:
    store = SqliteStore(tmp_path / "m.db", vfs=vfs.name)
    await store.open()
    try:
        vfs.fail_with(error)
        with pytest.raises(StoreUnavailable, match=says):
            await store.apply(events(1))
        vfs.free()
        assert [event.seq for event in await store.apply(events(1))] == [1]
    finally:
        vfs.free()
        await store.close()


async def test_opening_on_a_disk_that_refuses_writes_is_store_unavailable(
    tmp_path: Path, vfs: QuotaVFS
) -> None:
    vfs.fail_with(apsw.ReadOnlyError)
    store = SqliteStore(tmp_path / "m.db", vfs=vfs.name)
    with pytest.raises(StoreUnavailable, match="read-only") as raised:
        await store.open()
    assert raised.value.location == str(tmp_path)
    await store.close()


async def test_a_bad_write_is_not_a_storage_fault(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    try:
        with pytest.raises(TypeError):
            await store.apply(Batch((SetMeta("k", 1),)))  # type: ignore[arg-type]
    finally:
        await store.close()


async def test_the_wal_shrinks_back_when_writes_resume_after_a_full_disk(
    tmp_path: Path, vfs: QuotaVFS
) -> None:
    path = tmp_path / "m.db"
    store = SqliteStore(path, vfs=vfs.name)
    await store.open()
    try:
        # One big transaction grows the WAL well past the limit.
        await store.apply(events(1200, 8000))
        assert wal_size(path) > 2 * WAL_SIZE_LIMIT
        vfs.fill()
        with pytest.raises(StoreUnavailable):
            await store.apply(events(1))
        vfs.free()
        await store.apply(events(1))
        assert wal_size(path) <= WAL_SIZE_LIMIT
        assert await store.last_seq() == 1201
    finally:
        vfs.free()
        await store.close()


async def test_close_leaves_no_wal_behind(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SqliteStore(path)
    await store.open()
    for _ in range(5):
        await store.apply(events(100, 8000))
    await store.close()
    assert wal_size(path) == 0
    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.last_seq() == 500
    finally:
        await reopened.close()


async def test_checkpoint_truncates_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SqliteStore(path)
    await store.open()
    try:
        await store.apply(events(800, 8000))
        assert wal_size(path) > WAL_SIZE_LIMIT
        await store.checkpoint()
        assert wal_size(path) == 0
        assert path.stat().st_size > 5_000_000  # the events moved into the database
    finally:
        await store.close()

"""Manager.open and its data directory: one manager per directory, clear typed errors.

A second manager on a data directory in use is refused (DataDirLocked) before it opens
anything, in the same process or another one; the lock dies with its process, kill -9
included. A directory that cannot be used, or a store that refuses writes at start-up,
gives a typed error naming the directory. The runtime here is the fake app-server (no
codex binary needed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import apsw
import pytest

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.errors import DataDirLocked, DataDirUnusable, StoreUnavailable
from codex_manager_core.events.ledger import MIN_RETRY_GAP
from codex_manager_core.ports import RuntimeProcess
from codex_manager_core.store.sqlite import SqliteStore
from codex_manager_core.testing import FakeAppServer, FakeClock, QuotaVFS

pytestmark = pytest.mark.anyio

WAIT = 20.0


class CountingTransport:
    """A RuntimeTransport that counts how often a runtime was started."""

    def __init__(self) -> None:
        self.inner = FakeAppServer().transport()
        self.opened = 0

    def open(self) -> AbstractAsyncContextManager[RuntimeProcess]:
        self.opened += 1
        return self.inner.open()


@asynccontextmanager
async def manager_on(data_dir: Path, **kwargs: object) -> AsyncIterator[Manager]:
    async with Manager.open(data_dir, transport=FakeAppServer().transport(), **kwargs) as m:  # type: ignore[arg-type]
        yield m


async def test_a_second_manager_on_the_same_data_dir_is_refused_before_it_opens_anything(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with manager_on(data_dir) as first:
        with anyio.fail_after(WAIT):
            await first.runtime.wait_ready()
        second = CountingTransport()
        with pytest.raises(DataDirLocked) as raised:
            async with Manager.open(data_dir, transport=second):
                pytest.fail("the second manager opened")
        assert raised.value.code == "data_dir_locked"
        assert str(data_dir) in str(raised.value)
        assert raised.value.holder == str(os.getpid())
        assert second.opened == 0  # no runtime was started for it
        # The first one is untouched.
        session = await first.sessions.create(title="still mine")
        assert (await first.sessions.get(session.session_id)).title == "still mine"
    # Released on close: the directory can be opened again.
    async with manager_on(data_dir) as again:
        assert (await again.sessions.get(session.session_id)).title == "still mine"


HOLDER = textwrap.dedent(
    """
    import sys, anyio
    from codex_manager_core import Manager
    from codex_manager_core.testing import FakeAppServer

    async def main():
        async with Manager.open(sys.argv[1], transport=FakeAppServer().transport()) as m:
            await m.runtime.wait_ready(20)
            print("ready", flush=True)
            await anyio.sleep_forever()

    anyio.run(main)
    """
)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_another_process_holds_the_lock_until_it_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    holder = await anyio.open_process(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None
        said = b""
        with anyio.fail_after(WAIT):
            async for chunk in holder.stdout:
                said += chunk
                if b"\n" in said:
                    break
        assert said.strip() == b"ready", said
        with pytest.raises(DataDirLocked) as raised:
            async with manager_on(data_dir):
                pytest.fail("opened a data dir another process holds")
        assert raised.value.holder == str(holder.pid)
        os.killpg(holder.pid, signal.SIGKILL)  # the holder and its fake runtime
        with anyio.fail_after(WAIT):
            await holder.wait()
    finally:
        if holder.returncode is None:
            os.killpg(holder.pid, signal.SIGKILL)
            await holder.wait()
    # The kernel released the lock with the process: no stale lock to clean up.
    async with manager_on(data_dir) as manager:
        with anyio.fail_after(WAIT):
            await manager.runtime.wait_ready()


async def test_a_data_dir_that_is_a_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("not a directory")
    with pytest.raises(DataDirUnusable) as raised:
        async with manager_on(path):
            pytest.fail("opened")
    assert str(path) in str(raised.value)
    assert raised.value.code == "data_dir_unusable"


async def test_a_lock_file_that_cannot_be_opened_is_a_typed_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "manager.lock").mkdir(parents=True)
    with pytest.raises(DataDirUnusable, match=r"manager\.lock is a directory"):
        async with manager_on(data_dir):
            pytest.fail("opened")


async def test_a_store_that_refuses_writes_at_start_up_is_a_typed_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with QuotaVFS() as vfs:
        vfs.fail_with(apsw.ReadOnlyError)
        store = SqliteStore(data_dir / "manager.sqlite3", vfs=vfs.name)
        transport = CountingTransport()
        with pytest.raises(StoreUnavailable, match="read-only") as raised:
            async with Manager.open(data_dir, store=store, transport=transport):
                pytest.fail("opened")
        assert raised.value.location == str(data_dir)
        assert transport.opened == 0
    # Nothing is left locked by the failed attempt.
    async with manager_on(data_dir):
        pass


async def test_health_reports_the_store_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with QuotaVFS() as vfs:
        store = SqliteStore(data_dir / "manager.sqlite3", vfs=vfs.name)
        clock = FakeClock()
        transport = FakeAppServer().transport()
        # No extensions: their load's audit row at open would leave the WAL with room for
        # the small write below, which must be the one that finds the disk full.
        config = ManagerConfig(
            extensions_repo_root=None, extension_entry_points=False, extension_roots_from_env=False
        )
        async with Manager.open(
            data_dir, store=store, transport=transport, clock=clock, config=config
        ) as m:
            health = await m.health()
            assert health.storage.writable is True
            vfs.fill()
            with pytest.raises(StoreUnavailable) as raised:
                await m.projects.create(name="nope")
            assert raised.value.location == str(data_dir)
            health = await m.health()
            assert health.storage.writable is False
            assert health.storage.location == str(data_dir)
            assert "disk is full" in (health.storage.reason or "")
            assert health.store is not None  # reads still work
            vfs.free()
            clock.advance(MIN_RETRY_GAP)  # a write a second later tries the store again
            project = await m.projects.create(name="now it works")
            assert (await m.health()).storage.writable is True
            assert (await m.projects.get(project.project_id)).name == "now it works"


@pytest.mark.anyio
async def test_a_runtime_restart_while_the_store_refuses_writes_is_held_not_lost(
    tmp_path: Path,
) -> None:
    """The runtime's own state changes (exited, ready with a new generation) are held like
    its notifications while the store refuses writes, and the generation is never reused."""
    from codex_manager_core import MemoryStore
    from codex_manager_core.testing import FaultyStore, store_full

    clock = FakeClock()
    store = FaultyStore(MemoryStore())
    async with Manager.open(
        store=store, transport=FakeAppServer().transport(), clock=clock
    ) as manager:
        await manager.runtime.wait_ready(10)
        before = manager.context.state.generation
        store.failure = store_full()
        with anyio.fail_after(10):
            await manager.runtime.restart(wait=True)
        assert manager.context.state.generation == before + 1
        # Both records (stopped, ready) are queued to the ledger, which holds them.
        with anyio.fail_after(10):
            held = await manager.ledger.wait_storage(lambda s: s.held_events >= 2)
        assert not held.writable, held
        store.failure = None
        with anyio.fail_after(10):
            await clock.wait_for_sleepers(1)
        clock.advance(max(clock.sleepers))
        with anyio.fail_after(10):
            await manager.ledger.wait_storage(lambda s: s.writable and not s.held_events)
        states = [
            (event.payload["state"], event.payload["generation"])
            for event in await manager.events.read(types=["runtime_state_changed"])
        ]
        assert states[-2:] == [("stopped", before), ("ready", before + 1)], states
        assert await store.get_meta("generation") == str(before + 1)


def test_a_new_data_dir_is_private_and_an_open_one_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It holds every transcript and the runtime's credentials: others may not read it."""
    from codex_manager_core.data_dir import prepare_data_dir

    old = os.umask(0o022)
    try:
        created = prepare_data_dir(tmp_path / "new" / "data")
    finally:
        os.umask(old)
    assert created.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with caplog.at_level("WARNING", logger="codex_manager_core.data_dir"):
        prepare_data_dir(shared)
    assert shared.stat().st_mode & 0o777 == 0o755, "a directory the user made keeps its mode"
    assert "can be read by other users" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="codex_manager_core.data_dir"):
        prepare_data_dir(created)
    assert caplog.text == ""

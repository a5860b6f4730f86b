"""The Clock port: `SystemClock` and `testing.FakeClock` give the same four readings
(`now`, `utcnow`, `monotonic`, `sleep`), and `utcnow()` is `now()` as an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest

from codex_manager_core.ports import Clock, SystemClock
from codex_manager_core.testing import FakeClock


@pytest.mark.parametrize("clock", [SystemClock(), FakeClock()], ids=["system", "fake"])
def test_both_clocks_implement_the_port(clock: Clock) -> None:
    assert isinstance(clock, Clock)


def test_system_clock_utcnow_is_an_aware_utc_now() -> None:
    clock = SystemClock()
    before = datetime.now(UTC)
    stamp = clock.utcnow()
    after = datetime.now(UTC)
    assert stamp.tzinfo is UTC
    assert before <= stamp <= after
    assert abs(stamp.timestamp() - clock.now()) < 5


def test_fake_clock_utcnow_follows_now_and_moves_only_with_advance() -> None:
    clock = FakeClock(wall_start=1_800_000_000.0)
    start = clock.utcnow()
    assert start == datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert start.tzinfo is UTC
    assert clock.utcnow() == start
    clock.advance(90.5)
    assert clock.utcnow() == start + timedelta(seconds=90.5)
    assert clock.utcnow().timestamp() == clock.now()


@pytest.mark.anyio
async def test_fake_clock_sleep_wakes_when_utcnow_reaches_the_deadline() -> None:
    clock = FakeClock()
    start = clock.utcnow()
    woke_at: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep(30)
        woke_at.append(clock.utcnow())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(sleeper)
        await clock.wait_for_sleepers(1)
        clock.advance(29)
        await anyio.lowlevel.checkpoint()
        assert woke_at == []
        clock.advance(1)
    assert woke_at == [start + timedelta(seconds=30)]


@pytest.mark.anyio
async def test_a_fake_deadline_cancels_its_block_when_time_is_advanced() -> None:
    clock = FakeClock()
    reached: list[str] = []

    async def waits() -> None:
        with clock.move_on_after(30) as scope:
            await anyio.sleep_forever()
        reached.append("cancelled" if scope.cancelled_caught else "finished")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waits)
        assert await clock.wait_for_sleepers(1) == [30]
        clock.advance(29)
        await anyio.wait_all_tasks_blocked()
        assert not reached
        clock.advance(1)
    assert reached == ["cancelled"]
    assert clock.sleepers == []


@pytest.mark.anyio
async def test_a_fake_deadline_is_forgotten_when_its_block_ends_first() -> None:
    clock = FakeClock()
    with clock.move_on_after(30) as scope:
        assert clock.sleepers == [30]
    assert clock.sleepers == []
    assert not scope.cancel_called
    with clock.move_on_after(None):
        assert clock.sleepers == []
    with clock.move_on_after(0) as expired:
        await anyio.lowlevel.checkpoint()
    assert expired.cancelled_caught


@pytest.mark.anyio
async def test_the_system_clocks_deadline_is_anyios() -> None:
    with SystemClock().move_on_after(0.01) as scope:
        await anyio.sleep(5)
    assert scope.cancelled_caught


@pytest.mark.anyio
async def test_wait_for_deadline_sees_a_sleeper_with_that_deadline() -> None:
    clock = FakeClock()
    clock.advance(2.0)
    woke = anyio.Event()

    async def sleeper() -> None:
        await clock.sleep(3.0)
        woke.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sleeper)
            await clock.wait_for_deadline(5.0)
            assert not woke.is_set()
            clock.advance(3.0)
            await woke.wait()
    with pytest.raises(AssertionError, match="until 7"):
        await clock.wait_for_deadline(7.0, timeout=0.01)

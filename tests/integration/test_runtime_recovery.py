"""A runtime past its restart cap is `failed`, but not for good (issue 7, point 5).

The Supervisor runs the fake app-server as a subprocess (crashing on `initialize` for the
first N processes, across restarts) with a FakeClock, so the backoff and the slow automatic
retry of a failed runtime are driven by the test, never by waiting:

- after the cap it reports `failed`, says when it tries again and how to restart it;
- every `failed_retry_interval` it tries once (an attempt that fails again goes straight
  back to `failed`, no new burst of restarts), and recovers when the cause is gone;
- `Manager.restart_runtime()` leaves `failed` at once (a new round of attempts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.errors import RuntimeUnavailable
from codex_manager_core.runtime import RestartPolicy, RuntimeState
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeAppServer, FakeClock
from tests.integration.test_runtime_faults import HealthLog, supervisor, transport

pytestmark = pytest.mark.anyio

S = RuntimeState
INTERVAL = 300.0
#: No backoff (a fake clock would have to be advanced through it) and a cap of 3 restarts.
POLICY = RestartPolicy(
    max_restarts=3, initial_backoff=0.0, max_backoff=0.0, failed_retry_interval=INTERVAL
)


def crashing(tmp_path: Path, times: int) -> FakeAppServer:
    """The first `times` processes crash in their handshake; later ones work."""
    return FakeAppServer(crash_on="initialize", crash_times=times, state_dir=tmp_path / "state")


async def test_a_failed_runtime_is_retried_slowly_until_it_recovers(tmp_path: Path) -> None:
    health = HealthLog()
    clock = FakeClock()
    fake = crashing(tmp_path, times=5)  # 1 start + 3 restarts fail, then 1 retry fails too
    async with supervisor(transport(fake, tmp_path), health, restart=POLICY, clock=clock) as sup:
        failed = await health.wait_for(lambda h: h.state is S.FAILED, "the supervisor to give up")
        assert (failed.epoch, failed.restart_count) == (4, 3)
        assert failed.next_retry_at == clock.now() + INTERVAL
        assert await clock.wait_for_sleepers(1) == [INTERVAL]
        with pytest.raises(RuntimeUnavailable) as caught:
            await sup.request("echo", 1)
        message = str(caught.value)
        assert "has failed" in message, message
        assert "POST /api/runtime/restart" in message, message
        assert f"tried again automatically in {INTERVAL:.0f} s" in message, message

        # Not before its time.
        clock.advance(INTERVAL - 1)
        assert (sup.state, sup.epoch) == (S.FAILED, 4)
        assert clock.deadlines == [INTERVAL]

        # The retry fails (the 5th crash): one attempt only, then failed again, and the
        # next retry is scheduled one interval later.
        clock.advance(1)
        again = await health.wait_for(
            lambda h: h.state is S.FAILED and h.epoch == 5, "the first retry to fail"
        )
        assert again.restart_count == 3, "a failed retry is not a new burst of restarts"
        assert again.next_retry_at == clock.now() + INTERVAL
        assert await clock.wait_for_sleepers(1) == [2 * INTERVAL]

        # The cause is gone: the second retry brings it back.
        clock.advance(INTERVAL)
        ready = await health.wait_for(
            lambda h: h.state is S.READY, "the second retry to bring the runtime back"
        )
        assert ready.epoch == 6
        assert ready.next_retry_at is None
        assert await sup.request("echo", 7) == 7
    assert health.states == [
        S.STARTING,
        S.RESTARTING,
        S.RESTARTING,
        S.RESTARTING,
        S.FAILED,
        S.RESTARTING,
        S.FAILED,
        S.RESTARTING,
        S.READY,
        S.STOPPED,
    ]


async def test_without_automatic_retry_failed_waits_for_restart(tmp_path: Path) -> None:
    health = HealthLog()
    clock = FakeClock()
    policy = RestartPolicy(
        max_restarts=1, initial_backoff=0.0, max_backoff=0.0, failed_retry_interval=None
    )
    fake = crashing(tmp_path, times=2)
    async with supervisor(transport(fake, tmp_path), health, restart=policy, clock=clock) as sup:
        failed = await health.wait_for(lambda h: h.state is S.FAILED, "the supervisor to give up")
        assert failed.next_retry_at is None
        assert clock.deadlines == []
        with pytest.raises(RuntimeUnavailable) as caught:
            await sup.request("echo", 1)
        assert "automatically" not in str(caught.value)
        await sup.restart()
        ready = await health.wait_for(lambda h: h.state is S.READY, "the manual restart")
        assert ready.epoch == 3


async def test_manager_restart_runtime_leaves_failed(tmp_path: Path) -> None:
    clock = FakeClock()
    config = ManagerConfig(restart=POLICY, ready_timeout=10.0)
    runtime = crashing(tmp_path, times=4).transport()
    async with Manager.open(
        store=MemoryStore(), config=config, transport=runtime, clock=clock
    ) as m:
        with pytest.raises(RuntimeUnavailable, match="has failed"):
            await m.runtime.wait_ready(10.0)  # returns (raising) once it has failed
        assert m.supervisor.state is S.FAILED

        health = await m.runtime.restart(wait=True)

        assert (health.state, health.epoch) == (S.READY, 5)
        # Only the ledger compaction's timer is left: the automatic retry is called off.
        assert clock.deadlines == [config.compaction_interval], "the retry is called off"
        assert await m.runtime.call("echo", {"ok": True}) == {"ok": True}


async def test_a_runtime_that_ran_well_before_it_died_is_no_crash_loop(tmp_path: Path) -> None:
    """Killed again and again (an OOM killer, a person), but each time after it ran
    `healthy_after` seconds: restarted every time, never `failed`. (A runtime that dies
    sooner counts towards the cap: test_runtime_faults.py::test_7_...)"""
    import os
    import signal

    health = HealthLog()
    clock = FakeClock()
    policy = RestartPolicy(
        max_restarts=2,
        initial_backoff=0.0,
        max_backoff=0.0,
        healthy_after=10.0,
        failed_retry_interval=None,
    )
    fake = FakeAppServer()
    async with supervisor(transport(fake, tmp_path), health, restart=policy, clock=clock) as sup:
        for epoch in range(1, 6):
            ready = await health.wait_for(
                lambda h, epoch=epoch: h.state is S.READY and h.epoch == epoch,
                f"runtime {epoch} to be ready",
            )
            assert ready.pid is not None
            clock.advance(policy.healthy_after)
            os.kill(ready.pid, signal.SIGKILL)
        await health.wait_for(lambda h: h.state is S.READY and h.epoch == 6, "runtime 6")
        assert S.FAILED not in health.states
        assert sup.health.restart_count == 5

"""Time in the Manager goes through its Clock: request expiry, turn-wait timeouts, ledger
compaction, the runtime's overload backoff and every timestamp. These tests drive a
`FakeClock` over `MemoryRuntime`, so nothing waits on real time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from codex_manager_core import (
    Event,
    Manager,
    ManagerConfig,
    RequestStatus,
    TurnTimeout,
)
from codex_manager_core.ports.store import CompactDeltas
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 5.0
THREAD = "thr_clock_1"


def thread_start(params: Any) -> Any:
    thread = {"id": THREAD, "cwd": params["cwd"], "status": {"type": "idle"}, "turns": []}
    return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}


@asynccontextmanager
async def open_manager(
    runtime: MemoryRuntime, clock: FakeClock, tmp_path: Path, **config: Any
) -> AsyncIterator[Manager]:
    settings = ManagerConfig(default_cwd=tmp_path, import_user_auth=False, **config)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=runtime, config=settings, clock=clock
        ) as manager:
            await manager.runtime.wait_ready(WAIT)
            yield manager


async def test_timestamps_come_from_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = MemoryRuntime({"thread/start": thread_start, "thread/name/set": {}})
    async with open_manager(runtime, clock, tmp_path) as manager:
        clock.advance(90)
        session = await manager.sessions.create(title="Timed")
        [created] = await manager.events.read(types=["session_created"])
    assert session.created_at == datetime.fromtimestamp(clock.now(), UTC)
    assert created.at == session.created_at


async def test_an_unanswered_request_expires_on_the_clocks_time(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = MemoryRuntime({"thread/start": thread_start})
    async with open_manager(runtime, clock, tmp_path, request_timeout=30.0) as manager:
        session = await manager.sessions.create()
        answers: list[Any] = []

        async def ask() -> None:
            params = {"threadId": THREAD, "turnId": "turn_1", "itemId": "i1", "command": "ls"}
            answers.append(
                await runtime.server_request("item/commandExecution/requestApproval", params)
            )

        resolved = manager.events.subscribe(types=["approval_resolved"])
        async with resolved, anyio.create_task_group() as tasks:
            tasks.start_soon(ask)
            await clock.wait_for_sleepers(2)  # the ledger compaction's and the request's timer
            [pending] = await manager.approvals.list(session.session_id)
            assert pending.status is RequestStatus.PENDING
            clock.advance(29)
            await anyio.wait_all_tasks_blocked()
            assert (await manager.requests.get(pending.request_id)).status.open
            clock.advance(1)
            event = await resolved.next(timeout=WAIT)
            assert isinstance(event, Event)
            assert event.payload["status"] == "expired"
        expired = await manager.requests.get(pending.request_id)
    assert answers == [{"decision": "decline"}]
    assert expired.status is RequestStatus.EXPIRED
    assert expired.reason == "no answer within 30 s"


async def test_a_turn_wait_times_out_on_the_clocks_time(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = MemoryRuntime({"thread/start": thread_start})
    async with open_manager(runtime, clock, tmp_path) as manager:
        session = await manager.sessions.create()
        before = len(clock.sleepers)

        async def advance_when_waiting() -> None:
            await clock.wait_for_sleepers(before + 1)
            clock.advance(600)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(advance_when_waiting)
            with pytest.raises(TurnTimeout) as timed_out:
                await manager.turns.wait(session.session_id, "turn_never", timeout=600)
    assert timed_out.value.code == "timeout"
    assert "600" in timed_out.value.message


async def test_ledger_compaction_runs_on_the_clocks_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = MemoryRuntime()
    store = MemoryStore()
    applied: list[Any] = []
    original_apply = store.apply

    async def recording_apply(batch: Any) -> Any:
        applied.extend(m for m in batch.mutations if isinstance(m, CompactDeltas))
        return await original_apply(batch)

    store.apply = recording_apply  # type: ignore[method-assign]
    config = ManagerConfig(
        default_cwd=tmp_path,
        import_user_auth=False,
        delta_retention=3600.0,
        compaction_interval=600.0,
    )
    with anyio.fail_after(WAIT):
        async with Manager.open(store=store, transport=runtime, config=config, clock=clock) as m:
            await m.runtime.wait_ready(WAIT)
            await clock.wait_for_sleepers(1)
            assert not applied
            clock.advance(600)
            while not applied:
                await anyio.lowlevel.checkpoint()
    [compaction] = applied
    assert compaction.before == datetime.fromtimestamp(clock.now() - 3600, UTC)


async def test_overload_retries_wait_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    answers = iter([MemoryRuntime.error(-32001, "overloaded"), None])

    def models(params: Any) -> Any:
        answer = next(answers)
        if answer is not None:
            raise answer
        return {"data": [], "nextCursor": None}

    runtime = MemoryRuntime({"model/list": models})
    async with open_manager(runtime, clock, tmp_path) as manager:
        before = len(clock.sleepers)
        result: list[Any] = []
        async with anyio.create_task_group() as tasks:

            async def call() -> None:
                result.append(await manager.runtime.list_models())

            tasks.start_soon(call)
            # The call's own deadline and the retry's backoff (a fraction of a second).
            await clock.wait_for_sleepers(before + 2)
            assert not result
            clock.advance(5)
    assert result
    assert [c.method for c in runtime.calls].count("model/list") == 2


async def test_events_carry_the_clocks_time(tmp_path: Path) -> None:
    clock = FakeClock(wall_start=1_800_000_000.0)
    runtime = MemoryRuntime({"thread/start": thread_start})
    async with open_manager(runtime, clock, tmp_path) as manager:
        await manager.sessions.create()
        events = await manager.events.read()
    stamped = [event for event in events if isinstance(event, Event)]
    assert stamped
    assert all(event.at.timestamp() >= 1_800_000_000.0 for event in stamped)


async def test_health_answers_cached_store_figures_at_most_seconds_old(tmp_path: Path) -> None:
    from codex_manager_core import AuthState
    from codex_manager_core.testing import MemoryCodexHome

    clock = FakeClock()
    runtime = MemoryRuntime({"thread/start": thread_start, "thread/name/set": {}})
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False, runtime_env={})
    home = MemoryCodexHome(auth=True)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=runtime, config=config, clock=clock, home=home
        ) as manager:
            await manager.runtime.wait_ready(WAIT)
            first = await manager.health(cached=True)
            await manager.sessions.create()
            cached = await manager.health(cached=True)
            live = await manager.health()
            clock.advance(5)
            refreshed = await manager.health(cached=True)
    assert first.store is not None
    assert first.store.sessions == 0
    assert cached.store == first.store  # not read again within 5 s of the clock
    assert live.store is not None
    assert live.store.sessions == 1
    assert refreshed.store is not None
    assert refreshed.store.sessions == 1
    assert first.auth == AuthState(api_key=False, auth_file=True)
    assert not first.auth.likely_unauthenticated
    assert live.last_seq >= first.last_seq

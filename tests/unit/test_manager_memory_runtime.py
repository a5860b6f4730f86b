"""The Manager over `testing.MemoryRuntime`: behaviour that needs a runtime's answers but not
a codex process (a session created from `thread/start`, runtime errors mapped to the
Manager's typed errors, notifications and server requests becoming ledger events and
durable interactive requests). Each test is in-process and takes milliseconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import (
    Event,
    InvalidInput,
    Manager,
    ManagerConfig,
    MethodNotSupported,
    RequestStatus,
)
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 5.0
THREAD = "thr_memory_1"


def thread_start(params: Any) -> Any:
    thread = {"id": THREAD, "cwd": params["cwd"], "status": {"type": "idle"}, "turns": []}
    return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}


@asynccontextmanager
async def open_manager(runtime: MemoryRuntime, tmp_path: Path) -> AsyncIterator[Manager]:
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=MemoryStore(), transport=runtime, config=config) as m:
            await m.runtime.wait_ready(WAIT)
            yield m


async def test_a_session_is_created_from_the_runtimes_thread(tmp_path: Path) -> None:
    runtime = MemoryRuntime({"thread/start": thread_start, "thread/name/set": {}})
    async with open_manager(runtime, tmp_path) as manager:
        session = await manager.sessions.create()
        listed = await manager.sessions.list()
    assert session.session_id == THREAD
    assert (session.cwd, session.model, session.status) == (str(tmp_path), "memory-model", "idle")
    assert [s.session_id for s in listed.items] == [THREAD]
    [start] = [call for call in runtime.calls if call.method == "thread/start"]
    assert start.params["cwd"] == str(tmp_path)


async def test_runtime_errors_become_the_managers_typed_errors(tmp_path: Path) -> None:
    def refuse(params: Any) -> Any:
        raise MemoryRuntime.error(-32602, "missing field `approvalPolicy`")

    runtime = MemoryRuntime({"thread/start": refuse})  # and no model/list at all
    async with open_manager(runtime, tmp_path) as manager:
        with pytest.raises(InvalidInput) as refused:
            await manager.sessions.create()
        with pytest.raises(MethodNotSupported):
            await manager.runtime.list_models()
        listed = await manager.sessions.list()
    assert refused.value.code == "invalid_params"
    assert "missing field `approvalPolicy`" in refused.value.message
    assert list(listed.items) == []  # nothing recorded for a thread that was never started


async def test_a_notification_becomes_a_ledger_event(tmp_path: Path) -> None:
    runtime = MemoryRuntime({"thread/start": thread_start})
    async with open_manager(runtime, tmp_path) as manager:
        session = await manager.sessions.create()
        async with manager.events.subscribe(
            thread_ids=[session.session_id], types=["app_server"]
        ) as sub:
            params = {"threadId": THREAD, "status": {"type": "active", "activeFlags": []}}
            await runtime.notify("thread/status/changed", params)
            event = await sub.next(timeout=WAIT)
    assert isinstance(event, Event), event
    assert event.type == "app_server.thread.status.changed"
    assert event.thread_id == session.session_id
    assert event.payload["params"]["status"] == {"type": "active", "activeFlags": []}


async def test_an_approval_is_a_durable_request_and_the_decision_reaches_the_runtime(
    tmp_path: Path,
) -> None:
    runtime = MemoryRuntime({"thread/start": thread_start})
    async with open_manager(runtime, tmp_path) as manager:
        session = await manager.sessions.create()
        answers: list[Any] = []

        async def ask() -> None:
            params = {
                "threadId": THREAD,
                "turnId": "turn_1",
                "itemId": "item_1",
                "command": "rm -rf build",
                "cwd": str(tmp_path),
            }
            method = "item/commandExecution/requestApproval"
            answers.append(await runtime.server_request(method, params))

        subscription = manager.events.subscribe(thread_ids=[THREAD], types=["approval"])
        async with subscription as sub, anyio.create_task_group() as tasks:
            tasks.start_soon(ask)
            pending = await sub.next(timeout=WAIT)
            assert isinstance(pending, Event), pending
            assert pending.type.startswith("approval")
            [approval] = await manager.approvals.list(session.session_id)
            assert approval.status is RequestStatus.PENDING
            assert approval.params["command"] == "rm -rf build"
            decided = await manager.approvals.decide(approval.request_id, "decline")
        assert decided.status is RequestStatus.RESOLVED
    assert answers == [{"decision": "decline"}]

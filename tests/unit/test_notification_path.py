"""The runtime's notification path never waits on the disk: whether a turn's end or the
runtime's `serverRequest/resolved` leaves a request to expire is answered from the open
requests kept in memory, and an expiry is written in a task of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import Event, Manager, ManagerConfig, RequestStatus
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 5.0
THREAD = "thr_path_1"


class CountingStore(MemoryStore):
    """Counts the request queries (those the notification path used to make)."""

    def __init__(self) -> None:
        super().__init__()
        self.request_queries = 0

    async def list_requests(self, query: Any) -> Any:
        self.request_queries += 1
        return await super().list_requests(query)

    async def get_request(self, request_id: str) -> Any:
        self.request_queries += 1
        return await super().get_request(request_id)


def thread_start(params: Any) -> Any:
    thread = {"id": THREAD, "cwd": params["cwd"], "status": {"type": "idle"}, "turns": []}
    return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}


def turn(turn_id: str, status: str) -> dict[str, Any]:
    return {"threadId": THREAD, "turn": {"id": turn_id, "status": status, "items": []}}


@asynccontextmanager
async def open_manager(
    tmp_path: Path,
) -> AsyncIterator[tuple[Manager, MemoryRuntime, CountingStore]]:
    runtime = MemoryRuntime({"thread/start": thread_start})
    store = CountingStore()
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=store, transport=runtime, config=config) as manager:
            await manager.runtime.wait_ready(WAIT)
            await manager.sessions.create()
            yield manager, runtime, store


async def test_turn_ends_without_open_requests_query_nothing(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as (manager, runtime, store):
        before = store.request_queries
        async with manager.events.subscribe(types=["app_server.turn.completed"]) as events:
            for index in range(20):
                await runtime.notify("turn/started", turn(f"t{index}", "inProgress"))
                await runtime.notify("turn/completed", turn(f"t{index}", "completed"))
                await runtime.notify(
                    "serverRequest/resolved", {"threadId": THREAD, "requestId": 99}
                )
            for _ in range(20):
                assert isinstance(await events.next(timeout=WAIT), Event)
        assert store.request_queries == before


async def test_a_pending_request_still_expires_when_its_turn_ends(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as (manager, runtime, _store):
        answers: list[Any] = []

        async def ask() -> None:
            params = {"threadId": THREAD, "turnId": "t1", "itemId": "i1", "command": "ls"}
            method = "item/commandExecution/requestApproval"
            answers.append(await runtime.server_request(method, params))

        async with (
            manager.events.subscribe(types=["approval"]) as approvals,
            anyio.create_task_group() as tasks,
        ):
            await runtime.notify("turn/started", turn("t1", "inProgress"))
            tasks.start_soon(ask)
            requested = await approvals.next(timeout=WAIT)
            assert isinstance(requested, Event)
            assert requested.type == "approval"
            await runtime.notify("turn/completed", turn("t1", "completed"))
            resolved = await approvals.next(timeout=WAIT)
            assert isinstance(resolved, Event)
            assert resolved.type == "approval_resolved"
            assert resolved.payload["status"] == "expired"
            tasks.cancel_scope.cancel()  # nobody answers the runtime: it stopped waiting
        [request] = await manager.requests.list(THREAD, statuses=None)
    assert request.status is RequestStatus.EXPIRED
    assert request.reason == "the turn ended"


async def test_the_runtime_resolving_a_request_expires_it(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as (manager, runtime, _store):

        async def ask() -> None:
            params = {"threadId": THREAD, "turnId": "t1", "itemId": "i1", "command": "ls"}
            await runtime.server_request("item/commandExecution/requestApproval", params)

        async with (
            manager.events.subscribe(types=["approval"]) as approvals,
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(ask)
            assert isinstance(await approvals.next(timeout=WAIT), Event)
            [pending] = await manager.approvals.list(THREAD)
            rpc_id = pending.rpc_id
            await runtime.notify(
                "serverRequest/resolved", {"threadId": THREAD, "requestId": rpc_id}
            )
            resolved = await approvals.next(timeout=WAIT)
            assert isinstance(resolved, Event)
            assert resolved.payload["status"] == "expired"
            tasks.cancel_scope.cancel()
        assert (await manager.requests.get(pending.request_id)).reason == "resolved by the runtime"

"""A Manager over `MemoryRuntime` for the action tests: threads numbered thr_1, thr_2, ...,
`turn/steer` and `thread/name/set` answered, one job type ("note") that never finishes (so
enqueued jobs stay put)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.models import Event
from codex_manager_core.ports.store import EventQuery
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime

WAIT = 10.0


@attrs.frozen
class Note:
    text: str


def make_runtime() -> MemoryRuntime:
    numbers = itertools.count(1)

    def thread_start(params: Any) -> Any:
        thread = {
            "id": f"thr_{next(numbers)}",
            "cwd": params["cwd"],
            "status": {"type": "idle"},
            "turns": [],
        }
        return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}

    def steer(params: Any) -> Any:
        return {"turnId": params["expectedTurnId"]}

    return MemoryRuntime({"thread/start": thread_start, "thread/name/set": {}, "turn/steer": steer})


@asynccontextmanager
async def open_manager(
    tmp_path: Path, runtime: MemoryRuntime | None = None, *, durable: bool = False
) -> AsyncIterator[Manager]:
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False, delta_retention=None)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            tmp_path / "data" if durable else None,
            store=None if durable else MemoryStore(),
            transport=runtime or make_runtime(),
            config=config,
        ) as manager:
            await manager.runtime.wait_ready(WAIT)

            @manager.jobs.job_type("note", payload=Note, result=Note)
            async def note(ctx: JobContext, payload: Note) -> Note:
                await anyio.Event().wait()
                raise AssertionError("unreachable")

            yield manager


async def events_of(manager: Manager, type_: str) -> list[Event]:
    return await manager.store.read_events(EventQuery(limit=10_000, type_prefixes=(type_,)))

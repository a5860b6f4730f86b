"""The suggested-request routes over real HTTP (uvicorn, httpx), the Manager over
MemoryRuntime with a FakeClock: each route's shapes and status codes (the original's
section 1.10), 400 naming the field past its bound, 403/404 for system and unknown
sessions, 409 `no_context` and `job_conflict`, `429 queue_full` when the owner's queue is
full (the issue's test 10 over HTTP), and the three answers of the waiting route: ok,
fallback past the deadline (time moved by the test), queued. The real `agent_instruction`
job type is another piece: a stand-in plays the worker (as in tests/unit/test_suggestions.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.queue.model import JobState
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock
from codex_manager_http.app import create_app
from codex_manager_http.serve import running_server
from codex_manager_http.settings import ServerSettings
from tests.unit.test_suggestions import USER_TEXT, Done, Instruction, Runtime, stand_in

pytestmark = pytest.mark.anyio

WAIT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@attrs.define
class Served:
    manager: Manager
    runtime: Runtime
    clock: FakeClock
    http: httpx.AsyncClient

    async def chat(self) -> str:
        session = await self.manager.sessions.create()
        self.runtime.said(session.session_id, USER_TEXT)
        return session.session_id


@asynccontextmanager
async def served(tmp_path: Path, **config: Any) -> AsyncIterator[Served]:
    runtime = Runtime()
    clock = FakeClock()
    settings = ManagerConfig(
        default_cwd=tmp_path, import_user_auth=False, delta_retention=None, **config
    )
    async with (
        Manager.open(
            store=MemoryStore(), transport=runtime.runtime, config=settings, clock=clock
        ) as manager,
        running_server(create_app(manager, ServerSettings())) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        await manager.runtime.wait_ready(WAIT)
        yield Served(manager, runtime, clock, http)


def answer(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, got "
        f"{response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


async def _block(ctx: JobContext, payload: Instruction) -> Done:
    await anyio.Event().wait()
    raise AssertionError("unreachable")


def url(session_id: str, tail: str = "") -> str:
    return f"/api/sessions/{session_id}/suggested-request{tail}"


async def test_upsert_answers_the_entry_and_refuses_bad_bodies(tmp_path: Path) -> None:
    async with served(tmp_path) as host:
        session_id = await host.chat()
        worker = (await host.manager.sessions.create(system_owned=True)).session_id
        post = host.http.post
        done = answer(
            await post(
                url(session_id, "/upsert"),
                json={"requestKey": "k1", "status": "complete", "suggestion": "Add tests"},
            ),
            200,
        )
        late = answer(
            await post(
                url(session_id, "/upsert"), json={"requestKey": "k1", "status": "streaming"}
            ),
            200,
        )
        missing = answer(
            await post(url(session_id, "/upsert"), json={"requestKey": "k2", "status": "complete"}),
            400,
        )
        too_long = answer(
            await post(
                url(session_id, "/upsert"),
                json={"requestKey": "k2", "status": "complete", "suggestion": "x" * 8001},
            ),
            400,
        )
        no_key = answer(await post(url(session_id, "/upsert"), json={"status": "streaming"}), 400)
        unknown = answer(
            await post(url("nope", "/upsert"), json={"requestKey": "k", "status": "streaming"}),
            404,
        )
        system = answer(
            await post(url(worker, "/upsert"), json={"requestKey": "k", "status": "streaming"}),
            403,
        )
    assert done["status"] == "ok"
    assert (done["sessionId"], done["requestKey"]) == (session_id, "k1")
    assert done["entry"]["status"] == "complete"
    assert done["entry"]["suggestion"] == "Add tests"
    assert isinstance(done["entry"]["updatedAt"], int)
    assert late["entry"] == done["entry"]  # a terminal state never regresses
    assert (missing["status"], missing["code"]) == ("invalid_request", "missing_suggestion")
    assert too_long["issues"][0]["path"] == ["suggestion"]
    assert ["requestKey"] in [issue["path"] for issue in no_key["issues"]]
    assert (unknown["status"], unknown["sessionId"]) == ("not_found", "nope")
    assert (system["code"], system["sessionId"]) == ("system_session", worker)


async def test_jobs_enqueues_dedupes_and_refuses(tmp_path: Path) -> None:
    async with served(tmp_path) as host:
        session_id = await host.chat()
        empty = (await host.manager.sessions.create()).session_id
        built_in = host.manager.suggestions.handler

        async def enqueues_nothing(_: Any) -> None:
            return None

        host.manager.suggestions.handler = enqueues_nothing
        no_type = answer(await host.http.post(url(session_id, "/jobs"), json={}), 409)
        host.manager.suggestions.handler = built_in
        stand_in(host.manager, _block)
        first = answer(await host.http.post(url(session_id, "/jobs")), 202)
        second = answer(await host.http.post(url(session_id, "/jobs"), json={"effort": "low"}), 202)
        no_context = answer(await host.http.post(url(empty, "/jobs"), json={}), 409)
        long_draft = answer(
            await host.http.post(url(empty, "/jobs"), json={"draft": "x" * 4001}), 400
        )
        bad_effort = answer(
            await host.http.post(url(empty, "/jobs"), json={"effort": "maximal"}), 400
        )
        await host.manager.jobs.cancel(first["jobId"])
    assert (no_type["status"], no_type["code"], no_type["sessionId"]) == (
        "error",
        "job_conflict",
        session_id,
    )
    assert set(first) == {"status", "jobId", "requestKey", "sessionId", "projectId", "dedupe"}
    assert (first["status"], first["sessionId"], first["dedupe"]) == (
        "queued",
        session_id,
        "enqueued",
    )
    assert first["projectId"] == f"session:{session_id}"
    assert (second["dedupe"], second["jobId"], second["requestKey"]) == (
        "already_queued",
        first["jobId"],
        first["requestKey"],
    )
    assert (no_context["status"], no_context["code"], no_context["sessionId"]) == (
        "no_context",
        "no_context",
        empty,
    )
    assert long_draft["issues"][0]["path"] == ["draft"]
    assert bad_effort["issues"][0]["path"] == ["effort"]


async def test_a_full_queue_answers_429_queue_full(tmp_path: Path) -> None:
    async with served(tmp_path, queue_max_per_owner=1) as host:
        stand_in(host.manager, _block)
        session_id = await host.chat()

        @host.manager.jobs.job_type("busy", payload=Done, result=Done, timeout=600)
        async def occupy(ctx: JobContext, payload: Done) -> Done:
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        busy = await host.manager.jobs.enqueue("busy", {}, owner=f"session:{session_id}")
        full = answer(await host.http.post(url(session_id, "/jobs"), json={}), 429)
        waiting = answer(await host.http.post(url(session_id), json={}), 429)
        await host.manager.jobs.cancel(busy.job.job_id)
    for body in (full, waiting):
        assert (body["status"], body["code"], body["sessionId"]) == (
            "error",
            "queue_full",
            session_id,
        )
        assert body["message"]


async def test_the_waiting_route_answers_ok_fallback_or_queued(tmp_path: Path) -> None:
    started = anyio.Event()
    async with served(tmp_path) as host:
        manager = host.manager
        replies: dict[str, str] = {}

        async def worker(ctx: JobContext, payload: Instruction) -> Done:
            assert payload.completion_signal is not None
            if payload.source_session_id in replies:
                await ctx.manager.suggestions.upsert(
                    payload.source_session_id,
                    payload.completion_signal.request_key,
                    "complete",
                    replies[payload.source_session_id],
                )
                return Done()
            started.set()
            await anyio.Event().wait()  # a late worker
            raise AssertionError("unreachable")

        stand_in(manager, worker)
        quick = await host.chat()
        replies[quick] = "Write the retry test"
        ok = answer(await host.http.post(url(quick), json={"effort": "low"}), 200)

        slow = await host.chat()
        responses: list[httpx.Response] = []

        async def ask(session_id: str, body: dict[str, Any]) -> None:
            responses.append(await host.http.post(url(session_id), json=body))

        wait = manager.config.suggest_request_wait
        async with anyio.create_task_group() as tasks:
            deadline = host.clock.monotonic() + wait
            tasks.start_soon(ask, slow, {"draft": "Also add logging"})
            with anyio.fail_after(WAIT):
                await started.wait()
            await host.clock.wait_for_deadline(deadline)
            host.clock.advance(wait)
        fallback = answer(responses.pop(), 200)
        slow_job = await manager.jobs.list(types=["agent_instruction"], owner=f"session:{slow}")

        # The slow session's owner is free again; a third session's job waits behind a
        # busy job of its owner, so it has not started by the deadline: 202 queued.
        queued_session = await host.chat()

        busy_started = anyio.Event()

        @manager.jobs.job_type("busy", payload=Done, result=Done, timeout=600)
        async def occupy(ctx: JobContext, payload: Done) -> Done:
            busy_started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        busy = await manager.jobs.enqueue("busy", {}, owner=f"session:{queued_session}")
        with anyio.fail_after(WAIT):
            await busy_started.wait()  # running: the interactive job cannot pass it
        async with anyio.create_task_group() as tasks:
            deadline = host.clock.monotonic() + wait
            tasks.start_soon(ask, queued_session, {})
            await host.clock.wait_for_deadline(deadline)
            host.clock.advance(wait)
        queued = answer(responses.pop(), 202)
        await manager.jobs.cancel(queued["jobId"])
        await manager.jobs.cancel(busy.job.job_id)

    # The original's keys, plus ours: the job that wrote it and the suggestion as written.
    assert set(ok) == {"status", "sessionId", "requestKey", "suggestion", "job", "suggested"}
    assert ok["job"]["sessionId"] == quick
    assert (ok["status"], ok["sessionId"], ok["suggestion"]) == (
        "ok",
        quick,
        "Write the retry test",
    )
    assert (fallback["status"], fallback["sessionId"], fallback["suggestion"]) == (
        "fallback",
        slow,
        "Also add logging",
    )
    [job] = slow_job.items
    assert job.state is JobState.CANCELED
    assert (queued["status"], queued["sessionId"], queued["dedupe"]) == (
        "queued",
        queued_session,
        "enqueued",
    )

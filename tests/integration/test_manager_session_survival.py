"""A session the user was told exists works after any restart (issue 7, point 2).

codex keeps a thread that has no rollout yet (nothing was sent in it) only in memory, so a
restart of the runtime loses it: `thread/read` answers "thread not loaded", `thread/resume`
"no rollout found". The manager starts a new thread for such a session on its first use and
keeps the session id. These tests drive the REAL codex binary through a graceful restart of
the manager and a crash (SIGKILL) of app-server; tests/acceptance/test_serve_session_survival.py
does it with kill -9 of `codex-manager serve`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from codex_manager_core import Event, Manager, SessionRecord, TurnStatus
from codex_manager_core.testing import Reply, ScriptedModel
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.integration.manager_fixtures import next_event, open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0


def echo(request: RecordedRequest) -> Reply:
    return Reply(f"echo: {request.last_user_text}")


def overlay(record: SessionRecord) -> dict[str, Any]:
    """What the user set on a session and must find again after a restart."""
    return {
        "title": record.title,
        "title_source": record.title_source,
        "project_id": record.project_id,
        "cwd": record.cwd,
        "controls": record.controls,
        "archived": record.archived,
        "created_at": record.created_at,
    }


def of_session(event: Event, session_id: str) -> bool:
    return event.thread_id == session_id


async def use_after_restart(manager: Manager, record: SessionRecord, text: str) -> None:
    """Everything a user does first with a session: open it, read its thread, talk."""
    sid = record.session_id
    assert overlay(await manager.sessions.get(sid)) == overlay(record)
    thread = await manager.sessions.read_thread(sid)
    assert thread["id"] == sid
    assert thread["turns"] == []
    events = manager.events.subscribe(thread_ids=[sid])
    result = await manager.turns.send_and_wait(sid, text, timeout=WAIT)
    assert (result.status, result.final_text) == (TurnStatus.COMPLETED, f"echo: {text}")
    # Everything the runtime reported for the new thread is filed under the session id.
    completed = await next_event(
        events, lambda e: e.type == "app_server.turn.completed", message="turn/completed"
    )
    params = completed.payload["params"]
    assert (completed.thread_id, params["threadId"]) == (sid, sid)
    events.close()
    page = await manager.transcript.get(sid, limit=None)
    assert [entry["content"] for entry in page.entries if entry["role"] == "user"] == [text]


async def test_unused_sessions_work_after_a_graceful_restart(tmp_path: Path) -> None:
    async with ScriptedModel(echo) as model:
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            project = await manager.projects.create("Survivors", str(env.workdir))
            plain = await manager.sessions.create()
            placed = await manager.sessions.create(
                project_id=project.project_id, approval_policy="never", model="mock-model"
            )
            await manager.settings.update(placed.session_id, {"theme": "dark"})
            titled = await manager.sessions.create(title="Named before the restart")
            records = [await manager.sessions.get(s.session_id) for s in (plain, placed, titled)]

        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            replaced = manager.events.subscribe(types=["session_thread_replaced"])
            for index, record in enumerate(records):
                await use_after_restart(manager, record, f"hello {index}")
            assert await manager.settings.get(placed.session_id) == {"theme": "dark"}
            # The untitled ones had no rollout: each got a new runtime thread, announced once.
            event = await next_event(
                replaced, lambda e: of_session(e, plain.session_id), message="the replacement"
            )
            assert event.payload["runtimeThreadId"] != plain.session_id
            renewed = await manager.sessions.get(plain.session_id)
            assert renewed.runtime_thread_id == event.payload["runtimeThreadId"]
            assert renewed.materialized
            listed = await manager.sessions.list()
            assert {s.session_id for s in listed.items} == {r.session_id for r in records}

        # A second restart: the replacement thread (now with a rollout) is resumed, history
        # and all, behind the same session id.
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            sid = plain.session_id
            result = await manager.turns.send_and_wait(sid, "again", timeout=WAIT)
            assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "echo: again")
            thread = await manager.sessions.read_thread(sid)
            assert thread["id"] == sid
            assert len(thread["turns"]) == 2
            assert (await manager.sessions.get(sid)).runtime_thread_id == renewed.runtime_thread_id
            # The model saw the whole conversation of the replacement thread.
            assert "hello 0" in str(model.requests[-1].input)


async def test_unused_session_works_after_the_runtime_crashes(tmp_path: Path) -> None:
    async with ScriptedModel(echo) as model, open_manager(tmp_path, model) as env:
        manager = env.manager
        session = await manager.sessions.create()
        first = await manager.runtime.wait_ready(WAIT)
        runtime = manager.events.subscribe(
            types=["runtime_state_changed"], include_thread_less=True
        )
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        await next_event(
            runtime,
            lambda e: e.payload.get("state") == "ready",
            timeout=WAIT,
            message="the runtime's restart",
        )
        await use_after_restart(manager, await manager.sessions.get(session.session_id), "hi")


async def test_concurrent_first_messages_start_one_thread(tmp_path: Path) -> None:
    """Two first uses of a lost thread at once must not give the session two threads."""
    import anyio

    async with ScriptedModel(echo) as model:
        async with open_manager(tmp_path, model) as env:
            session = await env.manager.sessions.create()
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            sid = session.session_id
            replaced = manager.events.subscribe(types=["session_thread_replaced"])
            results: list[Any] = []

            async def resume() -> None:
                results.append(await manager.sessions.resume(sid))

            async with anyio.create_task_group() as tasks:
                for _ in range(3):
                    tasks.start_soon(resume)
            assert all(isinstance(r, Mapping) and r["id"] == sid for r in results)
            await next_event(replaced, lambda e: of_session(e, sid), message="one replacement")
            result = await manager.turns.send_and_wait(sid, "once", timeout=WAIT)
            assert result.final_text == "echo: once"
            stored = await manager.events.read(types=["session_thread_replaced"], limit=100)
            assert len(stored) == 1, stored

"""Worker sessions on the REAL codex binary (offline, ScriptedModel): `manager.workers`
provisions one hidden, system-owned thread per (owner, agent), reuses it (also after a
restart of the manager), makes one under concurrent ensures, and classifies the runtime's
error for a thread whose files were removed as stale, after which invalidate + ensure
makes a new thread."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from codex_manager_core import AgentDefinition, Manager, NotFound, TurnResult, Worker
from codex_manager_core.queue.model import session_owner
from codex_manager_core.services.turn_waits import wait_for_turn_end
from codex_manager_core.testing import Reply, ScriptedModel
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.integration.manager_fixtures import open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0
REVIEWER = AgentDefinition(
    "reviewer",
    model="mock-model",
    sandbox="workspace-write",
    approval_policy="on-request",
    network_access="enabled",
)


def echo(request: RecordedRequest) -> Reply:
    return Reply(f"echo: {request.last_user_text}")


async def worker_turn(manager: Manager, session_id: str, text: str) -> TurnResult:
    """A turn in a worker session as a job runs it: `turns.send` refuses system-owned
    sessions (they are not the user's); `send_to_worker` is the queue's path (resuming the
    thread first, as for any session), and the turn is waited for like any turn."""
    handle = await manager.turns.send_to_worker(session_id, text)
    ctx = manager.context
    return await wait_for_turn_end(
        ctx.bus,
        ctx.store,
        ctx.clock,
        session_id,
        handle.turn_id,
        timeout=WAIT,
        since=handle.since_seq,
    )


async def thread_ids(manager: Manager) -> set[str]:
    """The threads the runtime knows (loaded or on disk)."""
    listed = await manager.runtime.call("thread/list", {"limit": 100})
    return {thread["id"] for thread in listed["data"]}


async def test_ensure_provisions_a_hidden_titled_worker_with_the_agents_controls(
    tmp_path: Path,
) -> None:
    project_dir = tmp_path / "project-dir"
    project_dir.mkdir()
    with anyio.fail_after(120):
        async with (
            ScriptedModel(echo) as model,
            open_manager(tmp_path, model, agents=(REVIEWER,)) as env,
        ):
            manager = env.manager
            project = await manager.projects.create("Alpha", str(project_dir))
            worker = await manager.workers.ensure(project.project_id, "reviewer")
            assert worker == Worker(worker.session_id, project.project_id, "reviewer", True)
            record = await manager.sessions.get(worker.session_id)
            assert record.system_owned
            assert record.title == "Alpha reviewer"
            assert record.project_id == project.project_id
            assert record.cwd == str(project_dir)
            controls = record.controls
            assert (
                controls.model,
                controls.filesystem_sandbox,
                controls.approval_policy,
                controls.network_access,
            ) == ("mock-model", "workspace-write", "on-request", "enabled")
            listed = await manager.sessions.list()
            assert worker.session_id not in [s.session_id for s in listed.items]

            again = await manager.workers.ensure(project.project_id, "reviewer")
            assert again == Worker(worker.session_id, project.project_id, "reviewer", False)
            agent_sessions = await manager.projects.agent_sessions(project.project_id)
            assert [(a.session_id, a.agent) for a in agent_sessions] == [
                (worker.session_id, "reviewer")
            ]

            # A chat owner: its cwd and title; the route's `session:<id>` owners too.
            chat = await manager.sessions.create(title="Chat one")
            owner = session_owner(chat.session_id)
            chat_worker = await manager.workers.ensure(owner, "default")
            chat_record = await manager.sessions.get(chat_worker.session_id)
            assert chat_record.title == "Chat one default"
            assert chat_record.cwd == chat.cwd
            assert chat_record.project_id is None
            assert [
                (a.session_id, a.agent) for a in await manager.projects.agent_sessions(owner)
            ] == [(chat_worker.session_id, "default")]
            assert await manager.workers.list(owner) == [
                Worker(chat_worker.session_id, owner, "default", False)
            ]

            with pytest.raises(NotFound) as unknown:
                await manager.workers.ensure(project.project_id, "nobody")
            assert unknown.value.code == "unknown_agent"
            assert "reviewer" in str(unknown.value)


async def test_concurrent_ensures_make_one_thread(tmp_path: Path) -> None:
    with anyio.fail_after(120):
        async with ScriptedModel(echo) as model, open_manager(tmp_path, model) as env:
            manager = env.manager
            project = await manager.projects.create("Beta")
            before = await thread_ids(manager)
            results: list[Worker] = []

            async def ensure() -> None:
                results.append(await manager.workers.ensure(project.project_id, "supervisor"))

            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(ensure)
            assert len({worker.session_id for worker in results}) == 1
            assert sorted(worker.created for worker in results) == [False] * 4 + [True]
            agent_sessions = await manager.projects.agent_sessions(project.project_id)
            assert len(agent_sessions) == 1
            assert (await thread_ids(manager)) - before <= {results[0].session_id}


async def test_the_mapping_survives_a_restart_and_project_deletion_forgets_it(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(180):
        async with ScriptedModel(echo) as model:
            async with open_manager(tmp_path, model) as env:
                project = await env.manager.projects.create("Gamma")
                first = await env.manager.workers.ensure(project.project_id, "default")
                await worker_turn(env.manager, first.session_id, "orient")
            async with open_manager(tmp_path, model) as env:
                again = await env.manager.workers.ensure(project.project_id, "default")
                assert again == Worker(first.session_id, project.project_id, "default", False)
                await env.manager.projects.delete(project.project_id)
                assert await env.manager.workers.list(project.project_id) == []


async def test_removed_thread_files_are_stale_and_invalidate_makes_a_new_thread(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(180):
        async with ScriptedModel(echo) as model:
            async with open_manager(tmp_path, model) as env:
                project = await env.manager.projects.create("Delta")
                worker = await env.manager.workers.ensure(project.project_id, "default")
                await worker_turn(env.manager, worker.session_id, "orient")
            # The worker's files are removed while no runtime holds the thread in memory.
            async with open_manager(tmp_path, model) as env:
                home = env.manager.context.home
                files = await home.thread_files(worker.session_id)
                assert files, "the worker's rollout should be on disk after its first turn"
                assert await home.remove_files(files) == len(files)
                # thread/resume of the gone thread: "no rollout found for thread id ...".
                with pytest.raises(NotFound) as failure:
                    await worker_turn(env.manager, worker.session_id, "work")
                assert env.manager.workers.is_stale_thread_error(failure.value), repr(failure.value)
                await env.manager.workers.invalidate(worker)
                fresh = await env.manager.workers.ensure(project.project_id, "default")
                assert fresh.created
                assert fresh.session_id != worker.session_id
                result = await worker_turn(env.manager, fresh.session_id, "work")
                assert result.final_text == "echo: work"
                agents = await env.manager.projects.agent_sessions(project.project_id)
                assert [a.session_id for a in agents] == [fresh.session_id]

"""The embedded Manager's projects, sessions, turns, controls and settings, on the REAL codex
binary (openai-codex-cli-bin) driven by a ScriptedModel (acceptance 1).

Each test opens one Manager (a fresh data dir, CODEX_HOME and work dir) and walks one area
end to end. Waits are event-driven (`next_event`, `wait_for_turn`), always bounded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codex_manager_core import (
    Conflict,
    Event,
    Gone,
    InvalidInput,
    Locked,
    Manager,
    NotFound,
    ProjectSessionsDeleted,
    ProjectSessionsMoved,
    RequestStatus,
    SettingValue,
    TurnStatus,
)
from codex_manager_core.testing import Reply, Stall, exec_command
from codex_manager_core.testing.scripted_model import RecordedRequest, Step
from tests.integration.manager_fixtures import next_event, running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TURN_TIMEOUT = 20.0


def echo(request: RecordedRequest) -> Step:
    """The model answers every request with the user's last words."""
    return Reply(f"echo: {request.last_user_text}")


def thread_files(codex_home: Path, session_id: str) -> list[Path]:
    return [
        Path(folder) / name
        for folder, _dirs, names in os.walk(codex_home)
        for name in names
        if session_id in name
    ]


async def all_events(manager: Manager, **filters: Any) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await manager.events.read(
            since=events[-1].seq if events else 0, limit=1000, **filters
        )
        events.extend(page)
        if len(page) < 1000:
            return events


async def all_session_ids(manager: Manager, *, limit: int, **filters: Any) -> list[str]:
    """Every page of list_sessions, following the cursor."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = await manager.sessions.list(cursor=cursor, limit=limit, **filters)
        assert len(page.items) <= limit
        ids.extend(record.session_id for record in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("list_sessions kept returning a next_cursor")


def of_type(type_: str, thread_id: str | None = None) -> Callable[[Event], bool]:
    return lambda event: event.type == type_ and (thread_id is None or event.thread_id == thread_id)


def delta_of(turn_id: str) -> Callable[[Event], bool]:
    return lambda event: (
        event.type == "app_server.item.agent_message.delta"
        and event.payload["params"]["turnId"] == turn_id
    )


# --------------------------------------------------------------------------- projects


async def test_projects_crud_assignment_and_bulk_operations(tmp_path: Path) -> None:
    async with running_manager(tmp_path, echo) as env:
        manager = env.manager
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()

        alpha = await manager.projects.create("Alpha", str(env.workdir))
        assert alpha.name == "Alpha"
        assert alpha.working_directory == str(env.workdir)
        with pytest.raises(Conflict, match="already exists") as duplicate:
            await manager.projects.create("  aLPHA ")
        assert duplicate.value.code == "duplicate_name"
        beta = await manager.projects.create("beta")
        assert beta.working_directory is None
        assert [p.name for p in await manager.projects.list()] == ["Alpha", "beta"]

        # Rename and move the working directory; omitting the directory keeps it.
        moved = await manager.projects.rename(alpha.project_id, "Alpha Two", str(elsewhere))
        assert (moved.name, moved.working_directory) == ("Alpha Two", str(elsewhere))
        with pytest.raises(Conflict) as taken:
            await manager.projects.rename(alpha.project_id, "BETA")
        assert taken.value.code == "duplicate_name"
        renamed = await manager.projects.rename(alpha.project_id, "alpha two")  # same project
        assert (renamed.name, renamed.working_directory) == ("alpha two", str(elsewhere))
        assert await manager.projects.get(alpha.project_id) == renamed

        # Sessions: created in a project (its directory is their cwd), or assigned later.
        first = await manager.sessions.create(project_id=alpha.project_id)
        assert first.project_id == alpha.project_id
        assert first.cwd == str(elsewhere)
        second = await manager.sessions.create(title="loose")
        assert second.project_id is None
        assert second.cwd == str(env.workdir)
        events = manager.events.subscribe(types=["session_project_updated"])
        await manager.projects.assign_session(second.session_id, alpha.project_id)
        assigned = await next_event(events, lambda e: True, message="session_project_updated")
        assert assigned.payload == {
            "sessionId": second.session_id,
            "projectId": alpha.project_id,
        }
        assert (await manager.sessions.get(second.session_id)).project_id == alpha.project_id
        worker = await manager.sessions.create(project_id=alpha.project_id, system_owned=True)
        in_alpha = await all_session_ids(manager, limit=1, project_id=alpha.project_id)
        assert sorted(in_alpha) == sorted([first.session_id, second.session_id])
        assert await all_session_ids(manager, limit=10, project_id="") == []
        with_workers = await all_session_ids(
            manager, limit=10, project_id=alpha.project_id, include_system_owned=True
        )
        assert worker.session_id in with_workers

        # Not empty: refused, nothing changed.
        with pytest.raises(Conflict) as not_empty:
            await manager.projects.delete(alpha.project_id)
        assert not_empty.value.code == "project_not_empty"
        assert not_empty.value.details == {"sessionCount": 2}
        await manager.projects.assign_session(second.session_id, None)
        assert (await manager.sessions.get(second.session_id)).project_id is None
        assert await all_session_ids(manager, limit=10, project_id="") == [second.session_id]
        await manager.projects.assign_session(second.session_id, alpha.project_id)

        # Bulk archive needs rollouts: refused (listing the ids), nothing moved.
        with pytest.raises(Conflict) as unmaterialized:
            await manager.projects.move_sessions(alpha.project_id, "archive")
        assert unmaterialized.value.code == "not_materialized_sessions"
        assert sorted(unmaterialized.value.details["sessionIds"]) == sorted(in_alpha)
        assert sorted(await all_session_ids(manager, limit=10, project_id=alpha.project_id)) == (
            sorted(in_alpha)
        )
        for session in (first, second):
            result = await manager.turns.send_and_wait(
                session.session_id, "hi", timeout=TURN_TIMEOUT
            )
            assert result.status is TurnStatus.COMPLETED
        moved_out = await manager.projects.move_sessions(alpha.project_id, "archive")
        assert moved_out == ProjectSessionsMoved(alpha.project_id, "archive", moved=2, archived=2)
        for session in (first, second):
            record = await manager.sessions.get(session.session_id)
            assert (record.archived, record.project_id) == (True, None)
        assert sorted(await all_session_ids(manager, limit=10, archived=True)) == sorted(in_alpha)

        # Empty of user sessions: deleting it unassigns the worker.
        await manager.projects.delete(alpha.project_id)
        with pytest.raises(NotFound):
            await manager.projects.get(alpha.project_id)
        assert (await manager.sessions.get(worker.session_id)).project_id is None

        # Bulk unassign, then bulk hard delete.
        third = await manager.sessions.create(project_id=beta.project_id)
        fourth = await manager.sessions.create(project_id=beta.project_id)
        assert third.cwd == str(env.workdir)  # beta has no directory: the default one
        unassigned = await manager.projects.move_sessions(beta.project_id, "unassigned")
        assert (unassigned.moved, unassigned.archived) == (2, 0)
        assert (await manager.sessions.get(third.session_id)).project_id is None
        for session in (third, fourth):
            await manager.projects.assign_session(session.session_id, beta.project_id)
        deleted = await manager.projects.delete_sessions(beta.project_id)
        assert deleted == ProjectSessionsDeleted(beta.project_id, deleted=2, skipped=0)
        for session in (third, fourth):
            with pytest.raises(Gone):
                await manager.sessions.get(session.session_id)
        await manager.projects.delete(beta.project_id)
        assert await manager.projects.list() == []

        project_events = [
            (e.type, e.payload.get("projectId") or e.payload["project"]["name"])
            for e in await all_events(manager, types=["project_"])
        ]
        assert project_events == [
            ("project_upserted", "Alpha"),
            ("project_upserted", "beta"),
            ("project_upserted", "Alpha Two"),
            ("project_upserted", "alpha two"),
            ("project_deleted", alpha.project_id),
            ("project_deleted", beta.project_id),
        ]


# --------------------------------------------------------------------------- sessions


async def test_session_lifecycle(tmp_path: Path) -> None:
    async with running_manager(tmp_path, echo) as env:
        manager = env.manager
        events = manager.events.subscribe(types=["session_", "app_server.thread.name.updated"])

        session = await manager.sessions.create(title="  My   first\tchat ")
        sid = session.session_id
        assert (session.title, session.title_source.value) == ("My first chat", "user")
        assert (session.materialized, session.archived, session.project_id) == (False, False, None)
        created = await next_event(events, of_type("session_created", sid), message="created")
        assert created.payload["session"]["title"] == "My first chat"
        assert created.payload["session"]["materialized"] is False
        assert (await manager.sessions.get(sid)).title == "My first chat"
        # The runtime is told the title in the background.
        named = await next_event(
            events, of_type("app_server.thread.name.updated", sid), message="runtime title"
        )
        assert named.payload["params"]["threadName"] == "My first chat"

        # Before the first message: no rollout yet.
        with pytest.raises(Conflict, match="no rollout") as not_materialized:
            await manager.sessions.archive(sid)
        assert not_materialized.value.code == "not_materialized"
        with pytest.raises(Conflict) as idle:
            await manager.turns.interrupt(sid)
        assert idle.value.code == "no_active_turn"
        assert (await manager.transcript.get(sid)).entries == ()
        assert (await manager.sessions.resume(sid))["id"] == sid

        result = await manager.turns.send_and_wait(sid, "hello there", timeout=TURN_TIMEOUT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "echo: hello there")
        record = await manager.sessions.get(sid)
        assert (record.materialized, record.preview, record.active_turn_id) == (
            True,
            "hello there",
            None,
        )
        assert record.last_turn_id == result.turn_id
        assert thread_files(env.codex_home, sid), "codex wrote no rollout"

        # Rename: ours at once, the runtime's copy follows.
        renamed = await manager.sessions.rename(sid, "Renamed chat")
        assert (await manager.sessions.get(sid)).title == "Renamed chat" == renamed.title
        updated = await next_event(events, of_type("session_updated", sid), message="updated")
        assert updated.payload["session"]["title"] == "Renamed chat"
        named = await next_event(
            events, of_type("app_server.thread.name.updated", sid), message="runtime rename"
        )
        assert named.payload["params"]["threadName"] == "Renamed chat"

        # Listing: pages with a cursor, archived filter, workers hidden unless asked for.
        others = [await manager.sessions.create(title=f"other {i}") for i in range(3)]
        worker = await manager.sessions.create(title="worker", system_owned=True)
        users = {sid, *(o.session_id for o in others)}
        listed = await all_session_ids(manager, limit=2)
        assert len(listed) == len(set(listed)) == 4
        assert set(listed) == users
        assert set(await all_session_ids(manager, limit=3, include_system_owned=True)) == {
            *users,
            worker.session_id,
        }

        archived = await manager.sessions.archive(sid)
        assert archived.archived is True
        assert (await manager.sessions.archive(sid)).archived is True  # idempotent
        assert sid not in await all_session_ids(manager, limit=200)
        assert await all_session_ids(manager, limit=200, archived=True) == [sid]
        assert set(await all_session_ids(manager, limit=200, archived=None)) == users
        assert (await manager.sessions.unarchive(sid)).archived is False
        assert (await manager.sessions.unarchive(sid)).archived is False  # idempotent
        result = await manager.turns.send_and_wait(sid, "back again", timeout=TURN_TIMEOUT)
        assert result.final_text == "echo: back again"
        resumed = await manager.sessions.resume(sid)
        assert resumed["id"] == sid

        # Fork: a new session with the history and controls.
        fork = await manager.sessions.fork(sid)
        assert fork.session_id != sid
        assert (fork.title, fork.materialized, fork.controls) == (
            "Renamed chat (fork)",
            True,
            record.controls,
        )
        forked = await next_event(
            events, of_type("session_created", fork.session_id), message="fork created"
        )
        assert forked.payload["forkedFrom"] == sid
        result = await manager.turns.send_and_wait(
            fork.session_id, "in the fork", timeout=TURN_TIMEOUT
        )
        assert result.final_text == "echo: in the fork"
        history = str(env.model.requests[-1].input)
        assert "hello there" in history
        assert "back again" in history

        # Compact runs a compaction turn; rollback drops the last turn from the history.
        turns = manager.events.subscribe(thread_ids=[sid], types=["app_server.turn."])
        await manager.sessions.compact(sid)
        await next_event(turns, of_type("app_server.turn.completed"), message="compaction turn")
        before = len((await manager.sessions.read_thread(sid))["turns"])
        await manager.sessions.rollback(sid)
        after = (await manager.sessions.read_thread(sid))["turns"]
        assert len(after) == before - 1
        with pytest.raises(InvalidInput, match="cannot roll back"):
            await manager.sessions.rollback(sid, len(after) + 1)

        # Hard delete: Gone (with the title) from then on. Its rollout stays while the
        # fork reads its history from it (codex forks by reference), and goes with the fork.
        files = thread_files(env.codex_home, sid)
        assert files
        assert (await manager.sessions.delete(sid)).files_removed == 0
        rollout = [path for path in files if path.suffix == ".jsonl"]
        assert rollout
        assert all(path.exists() for path in rollout)
        with pytest.raises(Gone) as gone:
            await manager.sessions.get(sid)
        assert (gone.value.session_id, gone.value.title, gone.value.code) == (
            sid,
            "Renamed chat",
            "deleted",
        )
        with pytest.raises(Gone):
            await manager.turns.send(sid, "anyone?")
        deleted = await next_event(events, of_type("session_deleted", sid), message="deleted")
        assert deleted.payload["title"] == "Renamed chat"
        assert sid not in await all_session_ids(manager, limit=200, archived=None)
        # The fork does not depend on the deleted original being a session.
        result = await manager.turns.send_and_wait(
            fork.session_id, "still here", timeout=TURN_TIMEOUT
        )
        assert result.status is TurnStatus.COMPLETED
        assert len((await manager.sessions.read_thread(fork.session_id))["turns"]) >= 2
        fork_files = thread_files(env.codex_home, fork.session_id)
        assert (await manager.sessions.delete(fork.session_id)).files_removed >= 1
        assert [path for path in [*files, *fork_files] if path.exists()] == []


def stall_or_echo(request: RecordedRequest) -> Step:
    """Hang on messages that start with "stall"; answer anything else."""
    text = request.last_user_text or ""
    return Stall("thinking") if text.startswith("stall") else Reply(f"echo: {text}")


async def test_steer_and_interrupt(tmp_path: Path) -> None:
    async with running_manager(tmp_path, stall_or_echo) as env:
        manager = env.manager
        sid = (await manager.sessions.create()).session_id
        events = manager.events.subscribe(thread_ids=[sid])

        handle = await manager.turns.send(sid, "stall, then listen")
        await next_event(events, delta_of(handle.turn_id), message="stalled reply")
        assert (await manager.sessions.get(sid)).active_turn_id == handle.turn_id
        with pytest.raises(Conflict, match="in progress"):
            await manager.sessions.rollback(sid)
        steered = await manager.turns.steer(sid, handle.turn_id, "steered text")
        assert steered == {"turnId": handle.turn_id}
        # codex drops the stalled sample and asks again with the steered input.
        result = await manager.turns.wait(sid, handle.turn_id, timeout=TURN_TIMEOUT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "echo: steered text")
        assert env.model.requests[-1].last_user_text == "steered text"

        handle = await manager.turns.send(sid, "stall again")
        await next_event(events, delta_of(handle.turn_id), message="second stall")
        assert await manager.turns.interrupt(sid) == handle.turn_id
        result = await manager.turns.wait(sid, handle.turn_id, timeout=TURN_TIMEOUT)
        assert result.status is TurnStatus.INTERRUPTED
        assert (await manager.turns.get(handle.turn_id)).status is TurnStatus.INTERRUPTED
        assert (await manager.sessions.get(sid)).active_turn_id is None
        with pytest.raises(Conflict) as idle:
            await manager.turns.interrupt(sid)
        assert idle.value.code == "no_active_turn"
        result = await manager.turns.send_and_wait(sid, "go on", timeout=TURN_TIMEOUT)
        assert result.final_text == "echo: go on"

        assert env.model.errors == []


# --------------------------------------------------------------------------- controls


async def test_controls_apply_to_the_next_turn(tmp_path: Path) -> None:
    script = [
        exec_command("touch never-marker", call_id="call_never"),
        Reply("not asked"),
        exec_command("touch asked-marker", call_id="call_asked"),
        Reply("asked"),
        Reply("override"),
    ]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        session = await manager.sessions.create()
        sid = session.session_id
        assert session.controls == env.config.default_controls
        events = manager.events.subscribe(
            thread_ids=[sid], types=["session_controls_updated", "approval"]
        )

        change = await manager.controls.apply(
            sid, model="mock-model-b", approval_policy="never", actor="alice", source="test"
        )
        assert change.status == "ok"
        assert (change.applied.model, change.applied.approval_policy) == ("mock-model-b", "never")
        assert change.previous == session.controls
        audit = await next_event(events, lambda e: True, message="controls event")
        assert audit.type == "session_controls_updated"
        assert audit.payload["controls"]["model"] == "mock-model-b"
        assert audit.payload["previous"]["approvalPolicy"] == "untrusted"
        assert (audit.payload["actor"], audit.payload["source"]) == ("alice", "test")
        view = await manager.controls.get(sid)
        assert (view.controls, view.defaults_editable) == (change.applied, True)

        # approval "never": the escalated command is refused without asking anybody.
        result = await manager.turns.send_and_wait(sid, "run it", timeout=TURN_TIMEOUT)
        assert result.final_text == "not asked"
        assert {request.model for request in env.model.requests} == {"mock-model-b"}
        refusal = env.model.requests[-1].output_for("call_never") or ""
        assert "approval policy is never" in refusal.lower(), refusal
        assert await manager.requests.list(sid, statuses=None) == []

        # "on-request" (keeping the model): the same command now asks for approval.
        change = await manager.controls.apply(sid, approval_policy="on-request", keep_model=True)
        assert change.applied.model == "mock-model-b"
        await next_event(events, lambda e: True, message="second controls event")
        handle = await manager.turns.send(sid, "run it again")
        asked = await next_event(events, of_type("approval"), message="approval request")
        assert "touch asked-marker" in asked.payload["summary"]
        [approval] = await manager.approvals.list(sid)
        await manager.approvals.decide(approval.request_id, "decline")
        result = await manager.turns.wait(sid, handle.turn_id, timeout=TURN_TIMEOUT)
        assert result.final_text == "asked"
        assert not (env.workdir / "asked-marker").exists()
        assert (await manager.requests.get(approval.request_id)).status is RequestStatus.RESOLVED

        # A per-call override applies to that turn only; applying the same again: unchanged.
        result = await manager.turns.send_and_wait(
            sid, "other model", model="mock-model-c", timeout=TURN_TIMEOUT
        )
        assert env.model.requests[-1].model == "mock-model-c"
        assert (await manager.sessions.get(sid)).controls.model == "mock-model-b"
        unchanged = await manager.controls.apply(sid, approval_policy="on-request", keep_model=True)
        assert unchanged.status == "unchanged"

        # Every change is audited in the transcript too.
        rows = [
            row
            for row in (await manager.transcript.get(sid, limit=None)).entries
            if row["type"] == "session.controls.updated"
        ]
        # `details` is JSON text, as the original's transcript rows carry it.
        details = [json.loads(row["details"]) for row in rows]
        assert [detail["applied"]["approvalPolicy"] for detail in details] == [
            "never",
            "on-request",
        ]
        assert details[0]["actor"] == "alice"
        assert "approval=untrusted" in rows[0]["content"]
        assert "approval=never" in rows[0]["content"]
        controls_events = await all_events(
            manager, thread_ids=[sid], types=["session_controls_updated"]
        )
        assert len(controls_events) == 2
        assert env.model.errors == []


async def test_settings_by_key_and_whole(tmp_path: Path) -> None:
    async with running_manager(tmp_path) as env:
        manager = env.manager
        sid = (await manager.sessions.create()).session_id
        assert await manager.settings.get(sid) == {}

        assert await manager.settings.set(sid, "theme", "dark", actor="bob") == {"theme": "dark"}
        assert await manager.settings.get_key(sid, "theme") == SettingValue("theme", True, "dark")
        assert await manager.settings.get_key(sid, "missing") == SettingValue(
            "missing", False, None
        )
        merged = await manager.settings.update(sid, {"size": 3, "nested": {"a": [1]}})
        assert merged == {"theme": "dark", "size": 3, "nested": {"a": [1]}}
        replaced = await manager.settings.update(sid, {"only": True}, mode="replace")
        assert replaced == {"only": True}
        assert await manager.settings.unset(sid, "only") is True
        assert await manager.settings.unset(sid, "only") is False  # nothing to delete
        assert (await manager.settings.set(sid, "k", 1)) == {"k": 1}
        assert (await manager.settings.set(sid, "k", 1)) == {"k": 1}  # unchanged
        assert (await manager.sessions.get(sid)).controls.settings == {"k": 1}

        # One event and one transcript row per actual change (5), none for no-ops; each
        # carries the change, not the whole document.
        audit = await all_events(manager, thread_ids=[sid], types=["session_settings_updated"])
        assert [e.payload["settingsChange"] for e in audit] == [
            {"set": {"theme": "dark"}, "removed": []},
            {"set": {"size": 3, "nested": {"a": [1]}}, "removed": []},
            {"set": {"only": True}, "removed": ["theme", "size", "nested"]},
            {"set": {}, "removed": ["only"]},
            {"set": {"k": 1}, "removed": []},
        ]
        assert all("settings" not in e.payload["controls"] for e in audit)
        assert audit[0].payload["actor"] == "bob"
        rows = [
            row
            for row in (await manager.transcript.get(sid)).entries
            if row["type"] == "session.controls.updated"
        ]
        assert len(rows) == 5
        assert all("settings changed" in row["content"] for row in rows)


async def test_default_controls_scope_and_lock(tmp_path: Path) -> None:
    async with running_manager(tmp_path / "open", [Reply("from the defaults")]) as env:
        manager = env.manager
        first = await manager.sessions.create()
        change = await manager.controls.apply(
            first.session_id,
            scope="default",
            model="mock-model-b",
            approval_policy="never",
            filesystem_sandbox="workspace-write",
        )
        assert change.scope == "default"
        defaults = await manager.controls.defaults()
        assert (defaults.model, defaults.approval_policy, defaults.filesystem_sandbox) == (
            "mock-model-b",
            "never",
            "workspace-write",
        )
        # The session itself keeps its controls; new sessions start from the defaults.
        assert (await manager.sessions.get(first.session_id)).controls == first.controls
        await manager.settings.set(first.session_id, "team", "red", scope="default")
        assert await manager.settings.get(first.session_id, scope="default") == {"team": "red"}
        assert await manager.settings.get(first.session_id) == {}
        second = await manager.sessions.create()
        assert second.controls == await manager.controls.defaults()
        assert second.controls.settings == {"team": "red"}
        result = await manager.turns.send_and_wait(second.session_id, "hi", timeout=TURN_TIMEOUT)
        assert result.final_text == "from the defaults"
        assert env.model.requests[-1].model == "mock-model-b"
        view = await manager.controls.get(second.session_id)
        assert view.defaults == second.controls

    async with running_manager(tmp_path / "locked", defaults_locked=True) as env:
        manager = env.manager
        async with manager.events.subscribe(types=["app_server.thread.started"]) as started:
            sid = (await manager.sessions.create()).session_id
            # The runtime's notification comes after thread/start answered: let it land.
            await next_event(started, of_type("app_server.thread.started", sid))
        view = await manager.controls.get(sid)
        assert (view.defaults_editable, view.default_lock_reason) == (
            False,
            env.config.defaults_lock_reason,
        )
        stats = await manager.store.stats()
        attempts: list[Callable[[], Any]] = [
            lambda: manager.controls.apply(sid, scope="default", approval_policy="never"),
            lambda: manager.settings.set(sid, "k", "v", scope="default"),
            lambda: manager.settings.update(sid, {"k": "v"}, scope="default"),
        ]
        for attempt in attempts:
            with pytest.raises(Locked, match="locked") as locked:
                await attempt()
            assert locked.value.code == "locked"
        assert await manager.controls.defaults() == env.config.default_controls
        assert (await manager.store.stats()).events == stats.events
        # The session scope stays editable.
        change = await manager.controls.apply(sid, approval_policy="never")
        assert change.status == "ok"

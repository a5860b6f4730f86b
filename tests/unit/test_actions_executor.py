"""`ActionExecutor`, each kind through the real services over `MemoryRuntime`: performed,
forbidden (naming what was outside the scope), invalid (naming the field); and the
`action_executed` event that says who decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core.actions import ActionRequest, ActionScope, ActionStatus
from codex_manager_core.models import Event, RequestStatus
from tests.unit.actions_fixtures import WAIT, events_of, make_runtime, open_manager

pytestmark = pytest.mark.anyio

ENTRY = {"messageId": "m1", "turnId": "turn_1", "role": "system", "type": "note", "content": "hi"}


def scope(session_id: str | None, turn_id: str | None = None) -> ActionScope:
    return ActionScope(owner=f"session:{session_id}", session_id=session_id, turn_id=turn_id)


async def test_transcript_upsert_performed_forbidden_invalid(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        s2 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        done = await run(
            ActionRequest("transcript.upsert", {"sessionId": s1, **ENTRY}), scope(s1), actor="t"
        )
        other = await run(
            ActionRequest("transcript.upsert", {"sessionId": s2, **ENTRY}), scope(s1), actor="t"
        )
        bad = await run(
            ActionRequest("transcript.upsert", {"sessionId": s1, "role": "x"}), scope(s1), actor="t"
        )
        rows1 = await manager.store.list_transcript_entries(s1)
        rows2 = await manager.store.list_transcript_entries(s2)
    assert done.status is ActionStatus.PERFORMED, done
    assert isinstance(done.result, dict)
    assert done.result["messageId"] == "m1"
    assert [row.content for row in rows1] == ["hi"]
    assert other.status is ActionStatus.FORBIDDEN
    assert other.error == f"session {s2} is not the scope's session {s1}"
    assert rows2 == []
    assert bad.status is ActionStatus.INVALID
    assert bad.error is not None
    assert "payload.messageId" in bad.error
    assert "payload.role" in bad.error


async def test_approval_decide_checks_session_turn_and_pending(tmp_path: Path) -> None:
    answers: list[Any] = []
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        s1 = (await manager.sessions.create()).session_id
        s2 = (await manager.sessions.create()).session_id

        async def ask() -> None:
            params = {"threadId": s1, "turnId": "turn_1", "itemId": "i1", "command": "ls"}
            answers.append(
                await runtime.server_request("item/commandExecution/requestApproval", params)
            )

        subscription = manager.events.subscribe(thread_ids=[s1], types=["approval"])
        async with subscription as sub, anyio.create_task_group() as tasks:
            tasks.start_soon(ask)
            requested = await sub.next(timeout=WAIT)
            assert isinstance(requested, Event), requested
            [pending] = await manager.approvals.list(s1)
            approval_id = pending.request_id
            decide = {"approvalId": approval_id, "decision": "accept"}
            run = manager.actions.execute
            wrong_session = await run(
                ActionRequest("approval.decide", decide), scope(s2), actor="t"
            )
            wrong_turn = await run(
                ActionRequest("approval.decide", decide), scope(s1, "turn_9"), actor="t"
            )
            invalid = await run(
                ActionRequest("approval.decide", {"approvalId": approval_id}), scope(s1), actor="t"
            )
            done = await run(
                ActionRequest("approval.decide", decide), scope(s1, "turn_1"), actor="worker:w"
            )
        again = await run(ActionRequest("approval.decide", decide), scope(s1), actor="t")
        stored = await manager.store.get_request(approval_id)
    assert wrong_session.status is ActionStatus.FORBIDDEN
    assert wrong_session.error == f"approval {approval_id} belongs to session {s1}, not {s2}"
    assert wrong_turn.status is ActionStatus.FORBIDDEN
    assert wrong_turn.error == f"approval {approval_id} belongs to turn turn_1, not turn_9"
    assert invalid.status is ActionStatus.INVALID
    assert invalid.error is not None
    assert invalid.error.startswith("payload.decision:")
    assert done.status is ActionStatus.PERFORMED, done
    assert answers == [{"decision": "accept"}]
    assert stored is not None
    assert stored.status is RequestStatus.RESOLVED
    assert stored.resolution is not None
    assert stored.resolution["actor"] == "worker:w"
    assert again.status is ActionStatus.FAILED
    assert again.error is not None
    assert "not pending" in again.error


async def test_turn_steer_uses_the_scopes_turn(tmp_path: Path) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        s1 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        done = await run(
            ActionRequest("turn.steer.create", {"sessionId": s1, "text": "also this"}),
            scope(s1, "turn_1"),
            actor="t",
        )
        other_turn = await run(
            ActionRequest("turn.steer.create", {"sessionId": s1, "turnId": "t2", "text": "x"}),
            scope(s1, "turn_1"),
            actor="t",
        )
        no_turn = await run(
            ActionRequest("turn.steer.create", {"sessionId": s1, "text": "x"}), scope(s1), actor="t"
        )
        no_input = await run(
            ActionRequest("turn.steer.create", {"sessionId": s1}), scope(s1, "turn_1"), actor="t"
        )
    assert done.status is ActionStatus.PERFORMED, done
    steers = [call.params for call in runtime.calls if call.method == "turn/steer"]
    assert len(steers) == 1
    assert steers[0]["threadId"] == s1
    assert steers[0]["expectedTurnId"] == "turn_1"
    assert other_turn.status is ActionStatus.FORBIDDEN
    assert other_turn.error == "turn t2 is not the scope's turn turn_1"
    assert no_turn.status is ActionStatus.INVALID
    assert no_turn.error == "payload.turnId: required (the scope names no turn)"
    assert no_input.status is ActionStatus.INVALID
    assert no_input.error is not None
    assert no_input.error.startswith("payload.input:")


async def test_queue_enqueue_uses_the_scopes_owner_and_session(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        job = {"type": "note", "payload": {"text": "n"}}
        done = await run(ActionRequest("queue.enqueue", job), scope(s1), actor="t")
        foreign = await run(
            ActionRequest("queue.enqueue", {**job, "owner": "proj_other"}), scope(s1), actor="t"
        )
        bad = await run(
            ActionRequest("queue.enqueue", {"type": "note", "payload": {"text": 3}}),
            scope(s1),
            actor="t",
        )
        missing = await run(ActionRequest("queue.enqueue", {"payload": {}}), scope(s1), actor="t")
        assert done.status is ActionStatus.PERFORMED, done
        assert isinstance(done.result, dict)
        enqueued = await manager.jobs.get(str(done.result["jobId"]))
        listed = await manager.jobs.list()
    assert (enqueued.owner, enqueued.source_session_id) == (f"session:{s1}", s1)
    assert len(listed.items) == 1
    assert foreign.status is ActionStatus.FORBIDDEN
    assert foreign.error == f"owner proj_other is not the scope's owner session:{s1}"
    assert bad.status is ActionStatus.INVALID
    assert bad.error is not None
    assert "text" in bad.error
    assert missing.status is ActionStatus.INVALID
    assert missing.error == "payload.type: must be a string of 1-200 characters"


async def test_session_rename_and_unknown_kinds_and_the_event(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        s2 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        done = await run(
            ActionRequest("session.rename", {"sessionId": s1, "title": "Renamed"}),
            scope(s1),
            actor="worker:thr_w",
        )
        other = await run(
            ActionRequest("session.rename", {"sessionId": s2, "title": "No"}), scope(s1), actor="t"
        )
        untitled = await run(
            ActionRequest("session.rename", {"sessionId": s1}), scope(s1), actor="t"
        )
        unknown = await run(ActionRequest("session.delete", {}), scope(s1), actor="t")
        no_session = await run(
            ActionRequest("session.rename", {"sessionId": s1, "title": "x"}),
            ActionScope(owner="proj_1"),
            actor="t",
        )
        renamed = await manager.sessions.get(s1)
        untouched = await manager.sessions.get(s2)
        events = await events_of(manager, "action_executed")
    assert done.status is ActionStatus.PERFORMED
    assert renamed.title == "Renamed"
    assert untouched.title != "No"
    assert other.status is ActionStatus.FORBIDDEN
    assert untitled.status is ActionStatus.INVALID
    assert untitled.error == "payload.title: must be a string of 1-500 characters"
    assert unknown.status is ActionStatus.INVALID
    assert unknown.error is not None
    assert unknown.error.startswith("kind: unknown kind 'session.delete'")
    assert no_session.status is ActionStatus.FORBIDDEN
    assert no_session.error == f"session {s1} is outside the scope: the scope has no session"
    assert [event.payload["status"] for event in events] == [
        "performed",
        "forbidden",
        "invalid",
        "invalid",
        "forbidden",
    ]
    first = events[0]
    assert first.thread_id == s1
    assert first.payload["actor"] == "worker:thr_w"
    assert first.payload["kind"] == "session.rename"
    assert first.payload["scope"]["sessionId"] == s1

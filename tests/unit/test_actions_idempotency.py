"""Idempotent actions: the same key and request again is `already_performed` with the first
result and acts once; the same key for something else is `conflict`; the receipt survives a
reopened SQLite store; a refused action leaves no receipt."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from codex_manager_core.actions import ActionRequest, ActionScope, ActionStatus
from tests.unit.actions_fixtures import events_of, open_manager

pytestmark = pytest.mark.anyio

JOB = {"type": "note", "payload": {"text": "n"}}


def scope(session_id: str) -> ActionScope:
    return ActionScope(owner=f"session:{session_id}", session_id=session_id)


async def test_the_same_key_again_returns_the_first_result_and_acts_once(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        request = ActionRequest("queue.enqueue", JOB, idempotency_key="k1")
        first = await manager.actions.execute(request, scope(s1), actor="t")
        # Key order in the payload does not make it another request.
        reordered = ActionRequest("queue.enqueue", dict(reversed(JOB.items())), "k1")
        second = await manager.actions.execute(reordered, scope(s1), actor="t")
        listed = await manager.jobs.list()
        events = await events_of(manager, "action_executed")
    assert first.status is ActionStatus.PERFORMED
    assert second.status is ActionStatus.ALREADY_PERFORMED
    assert second.result == first.result
    assert second.idempotency_key == "k1"
    assert len(listed.items) == 1
    assert [e.payload["status"] for e in events] == ["performed", "already_performed"]
    assert events[0].payload["idempotencyKey"] == "k1"


async def test_the_same_key_for_another_request_is_a_conflict(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        s2 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        await run(ActionRequest("queue.enqueue", JOB, "k1"), scope(s1), actor="t")
        other_payload = await run(
            ActionRequest("queue.enqueue", {**JOB, "payload": {"text": "m"}}, "k1"),
            scope(s1),
            actor="t",
        )
        other_scope = await run(ActionRequest("queue.enqueue", JOB, "k1"), scope(s2), actor="t")
        listed = await manager.jobs.list()
    for result in (other_payload, other_scope):
        assert result.status is ActionStatus.CONFLICT
        assert result.error is not None
        assert result.error.startswith("idempotency_conflict: key 'k1'")
    assert len(listed.items) == 1


async def test_concurrent_calls_with_one_key_act_once(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        statuses: list[ActionStatus] = []

        async def call() -> None:
            request = ActionRequest("queue.enqueue", JOB, "k1")
            statuses.append((await manager.actions.execute(request, scope(s1), actor="t")).status)

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(call)
        listed = await manager.jobs.list()
    assert sorted(statuses) == sorted(
        [ActionStatus.PERFORMED] + [ActionStatus.ALREADY_PERFORMED] * 4
    )
    assert len(listed.items) == 1


async def test_a_refused_action_leaves_no_receipt_and_bad_keys_are_invalid(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        s1 = (await manager.sessions.create()).session_id
        run = manager.actions.execute
        refused = await run(
            ActionRequest("queue.enqueue", {**JOB, "owner": "proj_x"}, "k1"), scope(s1), actor="t"
        )
        receipt = await manager.store.get_action_receipt("k1")
        then = await run(ActionRequest("queue.enqueue", JOB, "k1"), scope(s1), actor="t")
        long_key = await run(ActionRequest("queue.enqueue", JOB, "k" * 201), scope(s1), actor="t")
    assert refused.status is ActionStatus.FORBIDDEN
    assert receipt is None
    assert then.status is ActionStatus.PERFORMED
    assert long_key.status is ActionStatus.INVALID
    assert long_key.error == "idempotencyKey: must be a string of 1-200 characters"


async def test_a_receipt_survives_a_reopened_sqlite_store(tmp_path: Path) -> None:
    request = ActionRequest("queue.enqueue", JOB, "k-durable")
    async with open_manager(tmp_path, durable=True) as manager:
        s1 = (await manager.sessions.create()).session_id
        first = await manager.actions.execute(request, scope(s1), actor="t")
    async with open_manager(tmp_path, durable=True) as manager:
        again = await manager.actions.execute(request, scope(s1), actor="t")
        different = await manager.actions.execute(
            ActionRequest("queue.enqueue", {**JOB, "priority": "interactive"}, "k-durable"),
            scope(s1),
            actor="t",
        )
        listed = await manager.jobs.list()
    assert first.status is ActionStatus.PERFORMED
    assert again.status is ActionStatus.ALREADY_PERFORMED
    assert again.result == first.result
    assert different.status is ActionStatus.CONFLICT
    assert len(listed.items) == 1

"""Worker tools through the Manager over `MemoryRuntime`: a system-owned session calling a
worker tool is answered by the action executor in scope of the job running there (and the
call recorded as resolved); with no job it is refused; a non-worker tool is still refused by
the system-session policy; the specs are valid dynamicTools entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_manager_core.actions import ActionScope, WorkerTools
from codex_manager_core.models import Event, RequestKind, RequestStatus
from codex_manager_core.ports.store import RequestQuery
from tests.unit.actions_fixtures import WAIT, events_of, make_runtime, open_manager

pytestmark = pytest.mark.anyio

ENTRY = {"messageId": "m1", "turnId": "turn_1", "role": "system", "type": "note", "content": "hi"}


def tool_call(thread_id: str, tool: str, arguments: object) -> dict[str, object]:
    return {
        "threadId": thread_id,
        "turnId": "turn_w",
        "callId": "call_1",
        "tool": tool,
        "arguments": arguments,
    }


def text_of(answer: dict[str, object]) -> str:
    items = answer["contentItems"]
    assert isinstance(items, list)
    return str(items[0]["text"])


def test_specs_are_dynamic_tool_entries() -> None:
    specs = WorkerTools.specs(WorkerTools.__new__(WorkerTools))
    assert (
        {spec["name"] for spec in specs}
        == set(WorkerTools.names)
        == {
            "transcript_upsert",
            "approval_decide",
            "turn_steer",
            "queue_enqueue",
            "session_rename",
        }
    )
    for spec in specs:
        assert spec["type"] == "function"
        assert spec["description"]
        assert spec["inputSchema"]["type"] == "object"
        assert "idempotencyKey" in spec["inputSchema"]["properties"]
        json.dumps(spec)


async def test_a_worker_tool_call_acts_in_the_jobs_scope(tmp_path: Path) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        user = (await manager.sessions.create()).session_id
        worker = await manager.sessions.create(
            system_owned=True, dynamic_tools=manager.worker_tools.specs()
        )
        jobs = {worker.session_id: ActionScope(f"session:{user}", None, user, "turn_1")}
        manager.worker_tools.set_scope_resolver(jobs.get)
        subscription = manager.events.subscribe(
            thread_ids=[worker.session_id], types=["tool_call_resolved"]
        )
        async with subscription as sub:
            answer = await runtime.server_request(
                "item/tool/call", tool_call(worker.session_id, "transcript_upsert", ENTRY)
            )
            resolved = await sub.next(timeout=WAIT)
            assert isinstance(resolved, Event), resolved
        rows = await manager.store.list_transcript_entries(user)
        [recorded] = await manager.store.list_requests(RequestQuery(thread_id=worker.session_id))
        [event] = await events_of(manager, "action_executed")
    assert answer["success"] is True, answer
    assert json.loads(text_of(answer))["status"] == "performed"
    assert [row.message_id for row in rows] == ["m1"]
    assert recorded.kind is RequestKind.TOOL_CALL
    assert recorded.status is RequestStatus.RESOLVED
    assert recorded.resolution is not None
    assert recorded.resolution["actor"] == "worker-tool:transcript_upsert"
    assert event.payload["actor"] == f"worker:{worker.session_id}"
    [start] = [
        c for c in runtime.calls if c.method == "thread/start" and c.params.get("dynamicTools")
    ]
    assert {tool["name"] for tool in start.params["dynamicTools"]} == set(WorkerTools.names)


async def test_a_worker_tool_outside_the_scope_or_without_a_job_is_refused(
    tmp_path: Path,
) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        user = (await manager.sessions.create()).session_id
        other = (await manager.sessions.create()).session_id
        worker = (await manager.sessions.create(system_owned=True)).session_id
        idle = await runtime.server_request(
            "item/tool/call", tool_call(worker, "session_rename", {"title": "x"})
        )
        manager.worker_tools.set_scope_resolver(
            lambda thread_id: (
                ActionScope(f"session:{user}", None, user, None) if thread_id == worker else None
            )
        )
        outside = await runtime.server_request(
            "item/tool/call",
            tool_call(worker, "session_rename", {"sessionId": other, "title": "x"}),
        )
        not_a_worker_tool = await runtime.server_request(
            "item/tool/call", tool_call(worker, "shell_out", {})
        )
        renamed = await runtime.server_request(
            "item/tool/call", tool_call(worker, "session_rename", {"title": "By worker"})
        )
        title = (await manager.sessions.get(user)).title
        untouched = (await manager.sessions.get(other)).title
    assert idle["success"] is False
    assert text_of(idle) == "no job is running on this worker; the tool call is refused"
    assert outside["success"] is False
    outcome = json.loads(text_of(outside))
    assert outcome["status"] == "forbidden"
    assert outcome["error"] == f"session {other} is not the scope's session {user}"
    assert untouched != "x"
    assert text_of(not_a_worker_tool) == "system-owned session: tool calls are refused"
    assert renamed["success"] is True
    assert title == "By worker"

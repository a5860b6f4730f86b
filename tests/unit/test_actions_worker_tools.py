"""The worker tool through the Manager over `MemoryRuntime`: a system-owned session calling
`act` is answered by the action executor in scope of the job running there (and the call
recorded as resolved); with no job it is refused; a bad intent is refused naming the field;
a worker thread started with the per-kind tools of before is still answered; a non-worker
tool is still refused by the system-session policy; the spec is a valid dynamicTools entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_manager_core.actions import ActionScope, WorkerTools
from codex_manager_core.actions.executor import ACTION_KINDS
from codex_manager_core.actions.worker_tools import ACT
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


def act(kind: str, payload: object, **extra: object) -> dict[str, object]:
    return {"kind": kind, "payload": payload, **extra}


def test_the_spec_is_one_dynamic_tool_taking_one_intent() -> None:
    (spec,) = WorkerTools.specs(WorkerTools.__new__(WorkerTools))
    assert spec["name"] == ACT == "act"
    assert spec["type"] == "function"
    assert all(kind in spec["description"] for kind in ACTION_KINDS)
    schema = spec["inputSchema"]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"kind", "payload", "idempotencyKey"}
    assert schema["properties"]["kind"]["enum"] == list(ACTION_KINDS)
    assert schema["required"] == ["kind", "payload"]
    assert ACT in WorkerTools.names
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
                "item/tool/call", tool_call(worker.session_id, ACT, act("transcript.upsert", ENTRY))
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
    assert recorded.resolution["actor"] == "worker-tool:act"
    assert event.payload["actor"] == f"worker:{worker.session_id}"
    [start] = [
        c for c in runtime.calls if c.method == "thread/start" and c.params.get("dynamicTools")
    ]
    assert [tool["name"] for tool in start.params["dynamicTools"]] == [ACT]


async def test_a_worker_tool_outside_the_scope_or_without_a_job_is_refused(
    tmp_path: Path,
) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        user = (await manager.sessions.create()).session_id
        other = (await manager.sessions.create()).session_id
        worker = (await manager.sessions.create(system_owned=True)).session_id
        idle = await runtime.server_request(
            "item/tool/call", tool_call(worker, ACT, act("session.rename", {"title": "x"}))
        )
        manager.worker_tools.set_scope_resolver(
            lambda thread_id: (
                ActionScope(f"session:{user}", None, user, None) if thread_id == worker else None
            )
        )
        outside = await runtime.server_request(
            "item/tool/call",
            tool_call(worker, ACT, act("session.rename", {"sessionId": other, "title": "x"})),
        )
        not_a_worker_tool = await runtime.server_request(
            "item/tool/call", tool_call(worker, "shell_out", {})
        )
        renamed = await runtime.server_request(
            "item/tool/call", tool_call(worker, ACT, act("session.rename", {"title": "By worker"}))
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


async def test_a_bad_intent_is_refused_naming_the_field(tmp_path: Path) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        user = (await manager.sessions.create()).session_id
        worker = (await manager.sessions.create(system_owned=True)).session_id
        manager.worker_tools.set_scope_resolver(
            lambda _thread_id: ActionScope(f"session:{user}", None, user, None)
        )
        answers = [
            await runtime.server_request("item/tool/call", tool_call(worker, ACT, arguments))
            for arguments in (
                act("shell.run", {}),
                act("session.rename", "rename it"),
                act("session.rename", {"title": "x"}, idempotencyKey=""),
                ["session.rename"],
                act("session.rename", {"title": ""}),
            )
        ]
        title = (await manager.sessions.get(user)).title
    assert [answer["success"] for answer in answers] == [False] * 5
    texts = [text_of(answer) for answer in answers]
    assert texts[0].startswith("kind: unknown kind 'shell.run'; known kinds: transcript.upsert")
    assert texts[1] == "payload: must be an object"
    assert texts[2] == "idempotencyKey: must be a string of 1-200 characters"
    assert texts[3] == "the arguments must be a JSON object"
    assert json.loads(texts[4])["error"] == "payload.title: must be a string of 1-500 characters"
    assert title != "x"


async def test_the_per_kind_tools_of_older_worker_threads_are_still_answered(
    tmp_path: Path,
) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        user = (await manager.sessions.create()).session_id
        worker = (await manager.sessions.create(system_owned=True)).session_id
        manager.worker_tools.set_scope_resolver(
            lambda _thread_id: ActionScope(f"session:{user}", None, user, "turn_1")
        )
        upserted = await runtime.server_request(
            "item/tool/call", tool_call(worker, "transcript_upsert", ENTRY)
        )
        renamed = await runtime.server_request(
            "item/tool/call",
            tool_call(worker, "session_rename", {"title": "Old worker", "idempotencyKey": "k"}),
        )
        again = await runtime.server_request(
            "item/tool/call",
            tool_call(worker, "session_rename", {"title": "Old worker", "idempotencyKey": "k"}),
        )
        rows = await manager.store.list_transcript_entries(user)
        title = (await manager.sessions.get(user)).title
    assert json.loads(text_of(upserted))["status"] == "performed"
    assert [row.message_id for row in rows] == ["m1"]
    assert json.loads(text_of(renamed))["status"] == "performed"
    assert json.loads(text_of(again))["status"] == "already_performed"
    assert title == "Old worker"

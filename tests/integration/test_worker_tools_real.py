"""The worker tool against the REAL `codex app-server` (offline, ScriptedModel): a
system-owned session started with `manager.worker_tools.specs()` as its dynamic tools, the
model calls `act` with a `transcript.upsert` intent, codex sends the tool call, the action
executor answers it in the scope of the job running on that worker, and the row lands in
the job's session's transcript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_manager_core import RequestStatus, TurnStatus
from codex_manager_core.actions import ActionScope
from codex_manager_core.testing.scripted_model import CallTool, Reply
from tests.integration.manager_fixtures import running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0
ENTRY = {
    "messageId": "worker-note-1",
    "turnId": "turn_user",
    "role": "system",
    "type": "worker.note",
    "content": "written by the worker",
}


async def test_a_worker_writes_a_transcript_row_through_its_tool(tmp_path: Path) -> None:
    script = [
        CallTool("act", {"kind": "transcript.upsert", "payload": ENTRY}, call_id="call_upsert"),
        Reply("noted"),
    ]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        user = await manager.sessions.create(title="User session")
        worker = await manager.sessions.create(
            system_owned=True, dynamic_tools=manager.worker_tools.specs()
        )
        scopes = {
            worker.session_id: ActionScope(
                f"session:{user.session_id}", None, user.session_id, "turn_user"
            )
        }
        manager.worker_tools.set_scope_resolver(scopes.get)
        handle = await manager.turns._start_turn(worker, "write the note")
        result = await manager.turns.wait(worker.session_id, handle.turn_id, timeout=WAIT)
        rows = await manager.store.list_transcript_entries(user.session_id)
        (call,) = await manager.requests.list(worker.session_id, statuses=None)
        first, second = env.model.requests
    assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "noted"), env.stderr_tail()
    assert "act" in set(first.tool_names)
    output = json.loads(str(second.output_for("call_upsert")))
    assert output["status"] == "performed"
    assert [(row.message_id, row.content) for row in rows] == [
        ("worker-note-1", "written by the worker")
    ]
    assert call.status is RequestStatus.RESOLVED
    assert call.resolution == {"success": True, "actor": "worker-tool:act"}

"""The runtime layer (Supervisor, RuntimeClient, StdioTransport) against the REAL codex.

Each test starts `codex app-server` (openai-codex-cli-bin 0.163.0) offline, with its own
CODEX_HOME, HOME and work dir, through `codex_app_server_transport` and a `Supervisor`, and
a `ScriptedModel` plays the model. See runtime_fixtures.py for the harness.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from codex_manager_core.runtime import RuntimeState
from codex_manager_core.testing import CallTool, Fail, Reply, Stall, Step, exec_command
from tests.integration.runtime_fixtures import is_notification, real_runtime

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

CODEX_VERSION = "0.163.0"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not alive for our purposes.
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" not in status


async def test_handshake_and_a_streamed_turn(tmp_path: Path) -> None:
    text = "Hello from the scripted model, in pieces"
    async with real_runtime(tmp_path, [Reply(text, chunks=4)]) as rt:
        health = rt.supervisor.health
        assert health.state is RuntimeState.READY
        assert health.epoch == 1
        assert health.codex_version == CODEX_VERSION
        assert health.user_agent is not None
        assert health.user_agent.startswith(f"cm_tests/{CODEX_VERSION}")
        assert health.experimental_api is True
        assert health.pid is not None
        assert _pid_alive(health.pid)
        init = rt.supervisor.initialize_result
        assert init is not None
        assert init.codex_home == str(rt.codex_home)

        thread = await rt.start_thread()
        turn_id = await rt.start_turn(thread["id"], "say hello")
        turn = await rt.wait_turn_completed(turn_id)

        assert turn["status"] == "completed", turn
        deltas = [
            r.params["delta"] for r in rt.turn_notifications(turn_id, "item/agentMessage/delta")
        ]
        assert len(deltas) == 4
        assert "".join(deltas) == text
        [message] = rt.completed_items(turn_id, "agentMessage")
        assert message["text"] == text
        assert [item["text"] for item in turn["items"] if item["type"] == "agentMessage"] == [text]
        methods = [r.method for r in rt.turn_notifications(turn_id)]
        assert methods[0] == "turn/started"
        assert methods[-1] == "turn/completed"
        [request] = rt.model.requests
        assert request.last_user_text == "say hello"
        assert request.headers["thread-id"] == thread["id"]
        assert rt.model.errors == []


@pytest.mark.parametrize(
    ("decision", "item_status"),
    [("accept", "completed"), ("decline", "declined")],
)
async def test_command_approval(tmp_path: Path, decision: str, item_status: str) -> None:
    marker = tmp_path / "work" / "approved-marker"
    script: list[Step] = [exec_command(f"touch {marker}", call_id="call_touch"), Reply("done")]
    async with real_runtime(tmp_path, script) as rt:
        thread = await rt.start_thread(approvalPolicy="on-request", sandbox="workspace-write")
        turn_id = await rt.start_turn(thread["id"], "make the marker")

        epoch, approval = await rt.next_server_request("item/commandExecution/requestApproval")
        assert epoch == 1
        assert approval.params["threadId"] == thread["id"]
        assert approval.params["turnId"] == turn_id
        assert "touch" in str(approval.params["command"])
        assert not marker.exists()  # nothing ran before the answer
        await rt.supervisor.reply(epoch, approval.id, {"decision": decision})

        turn = await rt.wait_turn_completed(turn_id)
        assert turn["status"] == "completed", turn
        [command] = rt.completed_items(turn_id, "commandExecution")
        assert command["id"] == approval.params["itemId"]
        assert command["status"] == item_status, command
        assert marker.exists() is (decision == "accept")
        assert rt.notifications.matching(
            is_notification("serverRequest/resolved", requestId=approval.id)
        )
        assert [m["text"] for m in rt.completed_items(turn_id, "agentMessage")] == ["done"]
        assert rt.model.requests[1].output_for("call_touch") is not None
        assert rt.model.errors == []


async def test_dynamic_tool_call_round_trip(tmp_path: Path) -> None:
    lookup: dict[str, Any] = {
        "type": "function",
        "name": "lookup",
        "description": "Count a kind of fruit.",
        "inputSchema": {
            "type": "object",
            "properties": {"fruit": {"type": "string"}},
            "required": ["fruit"],
        },
    }
    script: list[Step] = [
        CallTool("lookup", {"fruit": "apples"}, call_id="call_lookup"),
        Reply("There are 42 apples."),
    ]
    async with real_runtime(tmp_path, script) as rt:
        thread = await rt.start_thread(dynamicTools=[lookup])
        turn_id = await rt.start_turn(thread["id"], "how many apples?")

        epoch, call = await rt.next_server_request("item/tool/call")
        assert call.params["tool"] == "lookup"
        assert call.params["arguments"] == {"fruit": "apples"}
        assert call.params["callId"] == "call_lookup"
        assert (call.params["threadId"], call.params["turnId"]) == (thread["id"], turn_id)
        await rt.supervisor.reply(
            epoch,
            call.id,
            {"success": True, "contentItems": [{"type": "inputText", "text": "42 apples"}]},
        )

        turn = await rt.wait_turn_completed(turn_id)
        assert turn["status"] == "completed", turn
        first, follow_up = await rt.model.wait_for_requests(2, timeout=5)
        assert "lookup" in first.tool_names
        assert follow_up.output_for("call_lookup") == "42 apples"
        assert [m["text"] for m in rt.completed_items(turn_id, "agentMessage")] == [
            "There are 42 apples."
        ]
        assert rt.model.errors == []


async def test_interrupt_ends_a_stalled_turn(tmp_path: Path) -> None:
    async with real_runtime(tmp_path, [Stall("thinking...")]) as rt:
        thread = await rt.start_thread()
        turn_id = await rt.start_turn(thread["id"], "think forever")
        await rt.notifications.wait_for(
            is_notification("item/agentMessage/delta", turnId=turn_id),
            what="the stalled reply's first delta",
        )
        await rt.request("turn/interrupt", {"threadId": thread["id"], "turnId": turn_id})
        turn = await rt.wait_turn_completed(turn_id, timeout=5)
        assert turn["status"] == "interrupted", turn
        assert rt.model.errors == []


@pytest.mark.parametrize("how", ["restart", "sigkill"])
async def test_history_survives_a_runtime_restart(tmp_path: Path, how: str) -> None:
    script = [Reply("the first answer"), Reply("the second answer")]
    async with real_runtime(tmp_path, script) as rt:
        thread = await rt.start_thread()
        thread_id = thread["id"]
        first_turn = await rt.start_turn(thread_id, "first question")
        assert (await rt.wait_turn_completed(first_turn))["status"] == "completed"
        old_pid = rt.supervisor.health.pid
        assert old_pid is not None

        if how == "restart":
            await rt.supervisor.restart()
        else:
            os.kill(old_pid, signal.SIGKILL)
        await rt.wait_ready_epoch(2)

        health = rt.supervisor.health
        assert (health.state, health.epoch, health.restart_count) == (RuntimeState.READY, 2, 1)
        assert health.pid is not None
        assert health.pid != old_pid
        assert not _pid_alive(old_pid)
        assert health.last_exit is not None
        assert health.last_exit.epoch == 1
        if how == "restart":
            assert health.last_exit.expected
        else:
            assert not health.last_exit.expected
            assert health.last_exit.signal == signal.SIGKILL

        read = await rt.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        [turn] = read["thread"]["turns"]
        assert (turn["id"], turn["status"]) == (first_turn, "completed")
        texts = [item["text"] for item in turn["items"] if item["type"] == "agentMessage"]
        assert texts == ["the first answer"]

        await rt.request("thread/resume", {"threadId": thread_id})
        mark = rt.notifications.mark()
        second_turn = await rt.start_turn(thread_id, "second question")
        assert (await rt.wait_turn_completed(second_turn))["status"] == "completed"
        assert [m["text"] for m in rt.completed_items(second_turn, "agentMessage")] == [
            "the second answer"
        ]
        # Everything about the new turn came from the new runtime.
        assert {r.epoch for r in rt.notifications.seen[mark:]} == {2}
        # The resumed conversation carries the first exchange to the model.
        follow_up = rt.model.requests[-1]
        assert follow_up.last_user_text == "second question"
        assert "the first answer" in str(follow_up.input)
        assert rt.model.errors == []


async def test_model_http_500_fails_the_turn_and_the_runtime_recovers(tmp_path: Path) -> None:
    async with real_runtime(tmp_path, [Fail(500, "scripted outage"), Reply("back again")]) as rt:
        thread = await rt.start_thread()
        failing = await rt.start_turn(thread["id"], "please fail")
        turn = await rt.wait_turn_completed(failing)
        assert turn["status"] == "failed", turn
        assert turn["error"] is not None
        [error] = rt.notifications.matching(is_notification("error", turnId=failing))
        assert error.params["willRetry"] is False
        assert error.params["error"]["message"]

        working = await rt.start_turn(thread["id"], "try again")
        turn = await rt.wait_turn_completed(working)
        assert turn["status"] == "completed", turn
        assert [m["text"] for m in rt.completed_items(working, "agentMessage")] == ["back again"]
        health = rt.supervisor.health
        assert (health.state, health.epoch, health.restart_count) == (RuntimeState.READY, 1, 0)
        assert len(rt.model.requests) == 2
        assert rt.model.errors == []

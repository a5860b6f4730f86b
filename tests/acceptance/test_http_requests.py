"""Acceptance 3: interactive requests over HTTP and the WebSocket, on the real codex binary.

- An approval: the `approval` event arrives on /api/stream (subscribed to the thread), the
  pending list shows it (and listing changes nothing), POST /api/approvals/{id}/decision
  resolves it, `approval_resolved` follows, the command runs, and a second decision gets
  409 `reconciled`. Two racing decisions: exactly one wins.
- Tool input: in plan mode the model calls request_user_input; the question arrives as
  `tool_user_input_requested`, is answered with POST /api/tool-input/{id}/decision, the model
  receives the answers, and a second answer gets 404 (as the original: it forgot answered
  requests).
- A dynamic tool declared on POST /api/sessions: the call arrives as `tool_call_requested`,
  is answered with POST /api/tool-calls/{id}/response, the model receives the output, and a
  second answer gets 404.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from codex_manager_core import TurnStatus
from codex_manager_core.testing.scripted_model import CallTool, Reply, exec_command
from tests.acceptance.http_fixtures import Host, recv_json, recv_until, running_host
from tests.user_input import PLAN_MODE, QUESTIONS

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0  # bound for anything the runtime does in well under a second


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, got "
        f"{response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def frame_of(type_: str, **payload: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: (
        frame.get("type") == type_
        and all(frame["payload"].get(key) == value for key, value in payload.items())
    )


@asynccontextmanager
async def subscribed(host: Host, thread_id: str) -> AsyncIterator[ClientConnection]:
    """A WebSocket on /api/stream subscribed (the original's way) to one thread.

    The client buffers every frame (`max_queue=None`): the tests read only the frames they
    wait for, and with websockets' default flow control (16 unread frames) the client would
    stop reading, so closing would wait its whole close timeout for the server's close
    frame."""
    async with connect(host.server.ws_url + "/api/stream", max_queue=None) as ws:
        ready = await recv_json(ws)
        assert ready["type"] == "ready", ready
        await ws.send(json.dumps({"type": "subscribe", "threadId": thread_id}))
        await recv_until(ws, lambda f: f.get("type") == "subscribed", message="subscribed")
        yield ws


async def create_session(host: Host, **body: Any) -> str:
    created = ok(await host.http.post("/api/sessions", json=body))
    sid: str = created["session"]["sessionId"]
    return sid


async def start_turn(host: Host, sid: str, text: str, **extra: Any) -> str:
    accepted = ok(
        await host.http.post(f"/api/sessions/{sid}/messages", json={"text": text, **extra}), 202
    )
    turn_id: str = accepted["turnId"]
    return turn_id


async def finish(host: Host, sid: str, turn_id: str) -> str | None:
    result = await host.manager.turns.wait(sid, turn_id, timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED, result
    return result.final_text


# ---------------------------------------------------------------------- approvals


async def test_approval_over_http(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "approved"
    script = [exec_command(f"touch {marker}", call_id="call_touch"), Reply("done")]
    async with running_host(tmp_path, script) as host:
        http = host.http
        sid = await create_session(host, approvalPolicy="on-request", filesystemSandbox="read-only")
        async with subscribed(host, sid) as ws:
            turn_id = await start_turn(host, sid, "touch the marker")
            asked, _ = await recv_until(ws, frame_of("approval"), message="an approval frame")
            approval = asked["payload"]
            approval_id = approval["approvalId"]
            assert asked["threadId"] == sid
            assert isinstance(asked["seq"], int)
            assert (approval["status"], approval["method"], approval["turnId"]) == (
                "pending",
                "item/commandExecution/requestApproval",
                turn_id,
            )
            assert str(marker) in approval["summary"]
            assert not marker.exists()

            # Listing is pure: the same answer twice, and nothing written to the ledger.
            last_seq = host.manager.bus.last_seq
            listed = ok(await http.get(f"/api/sessions/{sid}/approvals"))
            assert ok(await http.get(f"/api/sessions/{sid}/approvals")) == listed
            assert host.manager.bus.last_seq == last_seq
            assert [a["approvalId"] for a in listed["data"]] == [approval_id]
            listed_approval = dict(listed["data"][0])
            assert listed_approval.pop("record")["requestId"] == approval_id  # ours
            assert listed_approval == approval

            for bad in ({"decision": "maybe"}, {"decision": "accept", "scope": "forever"}, {}):
                refused = ok(
                    await http.post(f"/api/approvals/{approval_id}/decision", json=bad), 400
                )
                assert refused["code"] == "invalid_request"
            decided = ok(
                await http.post(
                    f"/api/approvals/{approval_id}/decision", json={"decision": "accept"}
                )
            )
            assert decided.pop("request")["requestId"] == approval_id  # ours: the request
            assert decided == {
                "status": "ok",
                "approvalId": approval_id,
                "threadId": sid,
                "decision": "accept",
                "scope": None,
            }
            resolved, _ = await recv_until(
                ws, frame_of("approval_resolved", approvalId=approval_id), message="resolution"
            )
            assert (resolved["payload"]["status"], resolved["payload"]["decision"]) == (
                "resolved",
                "accept",
            )
            assert await finish(host, sid, turn_id) == "done"
            assert marker.exists()

        # A second decision, of either kind, is reconciled (409), and changes nothing.
        for decision in ("accept", "decline"):
            again = ok(
                await http.post(
                    f"/api/approvals/{approval_id}/decision", json={"decision": decision}
                ),
                409,
            )
            assert again["status"] == "reconciled"
            assert (again["code"], again["reason"], again["requestStatus"]) == (
                "already_resolved",
                "already_resolved",
                "resolved",
            )
            assert (again["approvalId"], again["threadId"]) == (approval_id, sid)
        assert ok(await http.get(f"/api/sessions/{sid}/approvals"))["data"] == []
        resolutions = await host.manager.events.read(thread_ids=[sid], types=["approval_resolved"])
        assert len(resolutions) == 1

        unknown = ok(
            await http.post("/api/approvals/0-999/decision", json={"decision": "accept"}), 404
        )
        assert (unknown["status"], unknown["approvalId"]) == ("not_found", "0-999")
        assert host.model.errors == []


async def test_two_racing_decisions_exactly_one_wins(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "raced"
    script = [exec_command(f"touch {marker}", call_id="call_race"), Reply("done")]
    async with running_host(tmp_path, script) as host:
        sid = await create_session(host, approvalPolicy="on-request")
        async with subscribed(host, sid) as ws:
            turn_id = await start_turn(host, sid, "touch it")
            asked, _ = await recv_until(ws, frame_of("approval"), message="an approval frame")
        approval_id = asked["payload"]["approvalId"]
        responses: dict[str, httpx.Response] = {}

        async def decide(decision: str) -> None:
            responses[decision] = await host.http.post(
                f"/api/approvals/{approval_id}/decision", json={"decision": decision}
            )

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(decide, "accept")
            tasks.start_soon(decide, "decline")
        codes = sorted(response.status_code for response in responses.values())
        assert codes == [200, 409], {d: r.text for d, r in responses.items()}
        (winner,) = [d for d, r in responses.items() if r.status_code == 200]
        (loser,) = [r.json() for r in responses.values() if r.status_code == 409]
        assert loser["status"] == "reconciled"
        assert loser["reason"] in ("already_resolved", "in_flight")
        assert loser["code"] in ("already_resolved", "conflict")
        assert await finish(host, sid, turn_id) == "done"
        assert marker.exists() == (winner == "accept")
        resolutions = await host.manager.events.read(thread_ids=[sid], types=["approval_resolved"])
        assert [event.payload["decision"] for event in resolutions] == [winner]


# ---------------------------------------------------------------------- tool input


async def test_tool_input_over_http(tmp_path: Path) -> None:
    script = [CallTool("request_user_input", QUESTIONS, call_id="call_ask"), Reply("blue it is")]
    async with running_host(tmp_path, script) as host:
        http = host.http
        sid = await create_session(host)
        async with subscribed(host, sid) as ws:
            turn_id = await start_turn(host, sid, "ask me", collaborationMode=PLAN_MODE)
            asked, _ = await recv_until(
                ws, frame_of("tool_user_input_requested"), message="the question"
            )
            question = asked["payload"]
            request_id = question["requestId"]
            assert (question["itemId"], question["turnId"]) == ("call_ask", turn_id)
            assert question["questions"][0]["id"] == "color"
            assert [o["label"] for o in question["questions"][0]["options"]] == [
                "Red (Recommended)",
                "Blue",
            ]
            listed = ok(await http.get(f"/api/sessions/{sid}/tool-input"))
            assert [q["requestId"] for q in listed["data"]] == [request_id]
            assert listed["data"][0]["method"] == "item/tool/requestUserInput"

            answered = ok(
                await http.post(
                    f"/api/tool-input/{request_id}/decision",
                    json={"decision": "accept", "answers": {"color": {"answers": ["Blue"]}}},
                )
            )
            assert answered.pop("request")["requestId"] == request_id  # ours: the request
            assert answered == {
                "status": "ok",
                "requestId": request_id,
                "threadId": sid,
                "decision": "accept",
            }
            resolved, _ = await recv_until(
                ws,
                frame_of("tool_user_input_resolved", requestId=request_id),
                message="the resolution",
            )
            assert resolved["payload"]["status"] == "resolved"
            assert await finish(host, sid, turn_id) == "blue it is"

        output = host.model.requests[1].output_for("call_ask")
        assert output is not None
        assert json.loads(output) == {"answers": {"color": {"answers": ["Blue"]}}}
        # Answered already: 404 not_found, as the original (it had forgotten the request),
        # with our code and reason.
        again = ok(
            await http.post(f"/api/tool-input/{request_id}/decision", json={"decision": "cancel"}),
            404,
        )
        assert (again["status"], again["code"], again["requestId"], again["threadId"]) == (
            "not_found",
            "already_resolved",
            request_id,
            sid,
        )
        assert ok(await http.get(f"/api/sessions/{sid}/tool-input"))["data"] == []
        unknown = ok(
            await http.post("/api/tool-input/0-999/decision", json={"decision": "accept"}), 404
        )
        assert (unknown["status"], unknown["requestId"]) == ("not_found", "0-999")
        assert host.model.errors == []


# ---------------------------------------------------------------------- dynamic tool calls


async def test_dynamic_tool_call_over_http(tmp_path: Path) -> None:
    declared = {
        "name": "ask_operator",
        "description": "Ask the operator.",
        "inputSchema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    }
    script = [CallTool("ask_operator", {"topic": "deploy"}, call_id="call_op"), Reply("thanks")]
    async with running_host(tmp_path, script) as host:
        http = host.http
        sid = await create_session(host, dynamicTools=[declared])
        async with subscribed(host, sid) as ws:
            turn_id = await start_turn(host, sid, "ask")
            asked, _ = await recv_until(ws, frame_of("tool_call_requested"), message="the call")
            call = asked["payload"]
            request_id = call["requestId"]
            assert (call["tool"], call["arguments"], call["turnId"]) == (
                "ask_operator",
                {"topic": "deploy"},
                turn_id,
            )
            assert "ask_operator" in host.model.requests[0].tool_names
            listed = ok(await http.get(f"/api/sessions/{sid}/tool-calls"))
            assert [c["requestId"] for c in listed["data"]] == [request_id]
            assert listed["data"][0]["callId"] == call["callId"]

            bad = {"contentItems": [{"type": "video"}]}
            refused = ok(await http.post(f"/api/tool-calls/{request_id}/response", json=bad), 400)
            assert refused["code"] == "invalid_request"
            answered = ok(
                await http.post(f"/api/tool-calls/{request_id}/response", json={"text": "ship it"})
            )
            assert answered.pop("request")["requestId"] == request_id  # ours: the request
            assert answered == {
                "status": "ok",
                "requestId": request_id,
                "threadId": sid,
                "success": True,
            }
            resolved, _ = await recv_until(
                ws, frame_of("tool_call_resolved", requestId=request_id), message="the resolution"
            )
            assert resolved["payload"] == {
                "requestId": request_id,
                "status": "resolved",
                "success": True,
            }
            assert await finish(host, sid, turn_id) == "thanks"

        assert host.model.requests[1].output_for("call_op") == "ship it"
        # Answered already: 404 not_found (the original's Python client counts it as done).
        again = ok(
            await http.post(f"/api/tool-calls/{request_id}/response", json={"text": "again"}), 404
        )
        assert (again["status"], again["code"], again["requestStatus"]) == (
            "not_found",
            "already_resolved",
            "resolved",
        )
        assert ok(await http.get(f"/api/sessions/{sid}/tool-calls"))["data"] == []
        unknown = ok(await http.post("/api/tool-calls/0-999/response", json={"text": "x"}), 404)
        assert (unknown["status"], unknown["requestId"]) == ("not_found", "0-999")
        assert host.model.errors == []

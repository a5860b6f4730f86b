"""Remote Python tools against a real server (real codex offline, ScriptedModel), on asyncio
and trio: the model calls the tool, the function runs here, the model sees its result; a
function that raises and an unknown tool answer a failed result with the message; calls
pending before serving starts are answered; each request is answered once."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from codex_manager_client.stream import EventStream
from codex_manager_client.tools import RemoteTools, ToolServer
from codex_manager_client.waits import wait_turn
from codex_manager_core.testing.scripted_model import CallTool, Reply
from tests.client.live_fixtures import WAIT, ServerThread, http_client, send_message, server_thread

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with server_thread(tmp_path_factory.mktemp("tools")) as running:
        yield running


def make_tools(calls: list[str]) -> RemoteTools:
    tools = RemoteTools()

    @tools.tool
    def lookup_order(order_id: str, include_items: bool = False) -> dict[str, object]:
        """Look up an order by id.

        Args:
            order_id: The order number, e.g. "A-17".
            include_items: Also return the line items.
        """
        calls.append(order_id)
        return {"id": order_id, "status": "shipped", "items": 2 if include_items else None}

    @tools.tool(name="explode")
    async def broken(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"it broke: {reason}")

    return tools


async def test_the_model_calls_a_remote_tool_and_sees_its_result(server: ServerThread) -> None:
    target = server.target
    calls: list[str] = []
    tools = make_tools(calls)
    spec = tools.specs(["lookup_order"])[0]
    assert spec["name"] == "lookup_order"
    assert spec["inputSchema"]["required"] == ["order_id"]

    @tools.tool
    def retired() -> str:
        """A tool the session declares but the serving side no longer has."""
        return "never"

    session_id = await tools.create_session(target, title="orders")
    tools.registry.unregister("retired")
    server.add_steps(
        CallTool("lookup_order", {"order_id": "A-17", "include_items": True}, call_id="c-ok"),
        CallTool("explode", {"reason": "on purpose"}, call_id="c-raise"),
        CallTool("retired", {}, call_id="c-unknown"),
        Reply("all done"),
    )
    async with EventStream(target) as probe:
        since = probe.head
    async with tools.serve(target, session_id) as serving:
        turn_id = await send_message(target, session_id, "where is A-17?")
        with anyio.fail_after(WAIT):
            result = await wait_turn(target, session_id, turn_id, since=since)
    assert result.final_text == "all done"
    assert calls == ["A-17"]
    assert len(serving.answered) == 3
    by_success = sorted(r.success for r in serving.answered.values())
    assert by_success == [False, False, True]

    last = server.host.model.requests[-1]
    ok = last.output_for("c-ok") or ""
    assert '"status": "shipped"' in ok or '"status":"shipped"' in ok, ok
    assert "it broke: on purpose" in (last.output_for("c-raise") or "")
    unknown = last.output_for("c-unknown") or ""
    assert "unknown tool 'retired'" in unknown, unknown
    assert "lookup_order" in unknown

    # Every request was answered exactly once: nothing is pending, and a second answer
    # is refused by the server (already resolved)...
    answered_id = next(iter(serving.answered))
    async with http_client(target) as http:
        pending = await http.get(f"/api/sessions/{session_id}/tool-calls")
        assert pending.json()["data"] == []
        again = await http.post(f"/api/tool-calls/{answered_id}/response", json={"text": "late"})
        assert again.status_code == 404, again.text
    # ... which a tool server takes as "answered elsewhere": no error, nothing sent.
    late = ToolServer(tools.registry, target, session_id, None)
    with anyio.fail_after(WAIT):
        await late._answer(answered_id, {"tool": "lookup_order", "arguments": {"order_id": "Z"}})
    assert late.answered == {}


async def test_calls_pending_before_serving_are_answered(server: ServerThread) -> None:
    target = server.target
    calls: list[str] = []
    tools = make_tools(calls)
    session_id = await tools.create_session(target)
    server.add_steps(CallTool("lookup_order", {"order_id": "B-2"}, call_id="c-early"), Reply("ok"))
    async with EventStream(target, thread_ids=[session_id]) as stream:
        since = stream.head
        turn_id = await send_message(target, session_id, "look up B-2")
        with anyio.fail_after(WAIT):
            async for frame in stream:
                if frame.type == "tool_call_requested":
                    break
    async with tools.serve(target, session_id) as serving:
        with anyio.fail_after(WAIT):
            result = await wait_turn(target, session_id, turn_id, since=since)
    assert result.final_text == "ok"
    assert calls == ["B-2"]
    assert len(serving.answered) == 1

"""Interactive requests through the Manager on the real codex runtime (acceptance 4 and 5).

4. Approvals: a command that leaves the sandbox under `on-request` asks for approval; the
   request is a durable row and an `approval` event; exactly one decision wins; it expires
   when its turn is interrupted, when the runtime dies (which is restarted), or after the
   optional timeout (the runtime is then told `decline`); a system-owned session's requests
   are resolved by policy at once.
5. A question of the model in plan mode (`request_user_input`) answered through the Manager,
   and dynamic tools answered by a registered Python function or by hand.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core import (
    Conflict,
    Event,
    InteractiveRequest,
    RequestKind,
    RequestStatus,
    SessionRecord,
    Subscription,
    SystemSessionForbidden,
    ToolRegistry,
    TurnHandle,
    TurnStatus,
)
from codex_manager_core.testing.scripted_model import CallTool, Reply, Step, exec_command
from tests.integration.manager_fixtures import ManagerEnv, next_event, running_manager
from tests.user_input import PLAN_MODE, QUESTIONS

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0  # bound for anything the runtime does in well under a second


def of_type(type_: str, **payload: Any) -> Any:
    """A predicate for next_event: this type, and these payload values."""

    def predicate(event: Event) -> bool:
        return event.type == type_ and all(event.payload.get(k) == v for k, v in payload.items())

    return predicate


async def conflict_code(call: Any) -> str:
    with pytest.raises(Conflict) as info:
        await call
    return info.value.code


@attrs.frozen
class PendingApproval:
    session: SessionRecord
    turn: TurnHandle
    events: Subscription
    approval_id: str
    call_id: str
    marker: Path


async def pending_approval(env: ManagerEnv, marker: Path, call_id: str) -> PendingApproval:
    """Start a turn whose first model step asks to `touch marker` outside the sandbox, and
    wait for its approval event."""
    manager = env.manager
    session = await manager.sessions.create(
        approval_policy="on-request", filesystem_sandbox="read-only"
    )
    events = manager.events.subscribe(thread_ids=[session.session_id])
    turn = await manager.turns.send(session.session_id, "touch the marker")
    approval = await next_event(events, of_type("approval"), timeout=WAIT, message="an approval")
    payload = approval.payload
    assert payload["status"] == "pending"
    assert payload["method"] == "item/commandExecution/requestApproval"
    assert payload["turnId"] == turn.turn_id
    assert str(marker) in payload["summary"]
    return PendingApproval(session, turn, events, payload["approvalId"], call_id, marker)


def approval_script(marker: Path, call_id: str, *after: Step) -> list[Step]:
    return [exec_command(f"touch {marker}", call_id=call_id), *after]


async def ledger_types(env: ManagerEnv, thread_id: str, prefixes: Iterable[str]) -> list[Event]:
    return await env.manager.events.read(thread_ids=[thread_id], types=list(prefixes), limit=1000)


# ---------------------------------------------------------------------- approvals


async def test_approval_accepted_once(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "accepted"
    script = approval_script(marker, "call_touch", Reply("done"))
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        pending = await pending_approval(env, marker, "call_touch")
        listed = await manager.approvals.list(pending.session.session_id)
        assert [(r.request_id, r.status, r.kind) for r in listed] == [
            (pending.approval_id, RequestStatus.PENDING, RequestKind.APPROVAL)
        ]
        assert listed[0].turn_id == pending.turn.turn_id
        assert listed[0].params["command"].endswith(f"touch {marker}'")

        decided = await manager.approvals.decide(pending.approval_id, "accept", actor="tester")
        assert decided.status is RequestStatus.RESOLVED
        assert decided.resolution == {"decision": "accept", "scope": None, "actor": "tester"}
        resolved = await next_event(
            pending.events,
            of_type("approval_resolved", approvalId=pending.approval_id),
            timeout=WAIT,
            message="approval_resolved",
        )
        assert resolved.payload["status"] == "resolved"
        assert resolved.payload["decision"] == "accept"

        result = await manager.turns.wait(
            pending.session.session_id, pending.turn.turn_id, timeout=WAIT
        )
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "done")
        assert marker.exists()
        assert env.model.requests[1].output_for("call_touch") is not None

        row = await manager.requests.get(pending.approval_id)
        assert row.status is RequestStatus.RESOLVED
        assert row.resolved_at is not None
        assert await manager.approvals.list(pending.session.session_id) == []

        # A second decision, of either kind, is refused; nothing more is sent or written.
        assert await conflict_code(manager.approvals.decide(pending.approval_id, "accept")) == (
            "already_resolved"
        )
        assert await conflict_code(manager.approvals.decide(pending.approval_id, "decline")) == (
            "already_resolved"
        )
        assert await manager.requests.get(pending.approval_id) == row
        resolutions = await ledger_types(env, pending.session.session_id, ["approval_resolved"])
        assert len(resolutions) == 1
        assert env.model.errors == []


async def test_two_concurrent_decisions_exactly_one_wins(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "raced"
    script = approval_script(marker, "call_race", Reply("done"))
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        pending = await pending_approval(env, marker, "call_race")
        outcomes: list[InteractiveRequest | Conflict] = []
        both_ready = anyio.Event()
        arrived = 0

        async def decide(decision: str) -> None:
            nonlocal arrived
            arrived += 1
            if arrived == 2:
                both_ready.set()
            await both_ready.wait()  # start both decisions in the same scheduling round
            try:
                outcomes.append(await manager.approvals.decide(pending.approval_id, decision))
            except Conflict as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(decide, "accept")
            tg.start_soon(decide, "decline")

        winners = [o for o in outcomes if isinstance(o, InteractiveRequest)]
        losers = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1, outcomes
        assert losers[0].code in ("already_resolved", "in_flight")
        winner = winners[0]
        assert winner.status is RequestStatus.RESOLVED
        assert winner.resolution is not None
        decision = winner.resolution["decision"]

        result = await manager.turns.wait(
            pending.session.session_id, pending.turn.turn_id, timeout=WAIT
        )
        assert result.status is TurnStatus.COMPLETED
        # The runtime acted on the winning decision only.
        assert marker.exists() == (decision == "accept")
        row = await manager.requests.get(pending.approval_id)
        assert (row.status, row.resolution) == (RequestStatus.RESOLVED, winner.resolution)
        resolutions = await ledger_types(env, pending.session.session_id, ["approval_resolved"])
        assert [e.payload["decision"] for e in resolutions] == [decision]


async def test_interrupted_turn_expires_its_pending_approval(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "interrupted"
    script = approval_script(marker, "call_int", Reply("never sent"))
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        pending = await pending_approval(env, marker, "call_int")
        assert await manager.turns.interrupt(pending.session.session_id) == pending.turn.turn_id
        expired = await next_event(
            pending.events,
            of_type("approval_resolved", approvalId=pending.approval_id),
            timeout=WAIT,
            message="the approval to expire",
        )
        assert expired.payload["status"] == "expired"
        assert expired.payload["reason"]
        result = await manager.turns.wait(
            pending.session.session_id, pending.turn.turn_id, timeout=WAIT
        )
        assert result.status is TurnStatus.INTERRUPTED

        row = await manager.requests.get(pending.approval_id)
        assert row.status is RequestStatus.EXPIRED
        assert row.reason == expired.payload["reason"]
        assert await manager.approvals.list(pending.session.session_id) == []
        assert await conflict_code(manager.approvals.decide(pending.approval_id, "accept")) == (
            "already_resolved"
        )
        assert not marker.exists()
        assert len(env.model.requests) == 1  # the runtime never went on


async def test_runtime_killed_while_approval_pending(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "killed"
    script = approval_script(marker, "call_kill", Reply("after the restart"))
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        first = await manager.runtime.wait_ready(WAIT)
        pending = await pending_approval(env, marker, "call_kill")
        runtime = manager.events.subscribe(
            types=["runtime_state_changed"], include_thread_less=True
        )
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)

        expired = await next_event(
            pending.events,
            of_type("approval_resolved", approvalId=pending.approval_id),
            timeout=WAIT,
            message="the approval to expire",
        )
        assert expired.payload["status"] == "expired"
        assert "exited" in expired.payload["reason"]
        exited = await next_event(runtime, of_type("runtime_state_changed", state="exited"))
        assert exited.payload["signal"] == signal.SIGKILL
        ready = await next_event(
            runtime, of_type("runtime_state_changed", state="ready"), message="the restart"
        )
        assert ready.payload["generation"] == exited.payload["generation"] + 1
        health = await manager.runtime.wait_ready(WAIT)
        assert health.pid != first.pid
        assert health.restart_count >= 1

        row = await manager.requests.get(pending.approval_id)
        assert row.status is RequestStatus.EXPIRED
        assert row.reason == "the runtime process exited"
        assert await conflict_code(manager.approvals.decide(pending.approval_id, "accept")) == (
            "already_resolved"
        )
        # The dead runtime's turn is settled (re-read from the new runtime), not left running.
        old = await manager.turns.wait(
            pending.session.session_id, pending.turn.turn_id, timeout=WAIT
        )
        assert old.status is not TurnStatus.IN_PROGRESS

        result = await manager.turns.send_and_wait(
            pending.session.session_id, "again", timeout=WAIT
        )
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "after the restart")
        assert not marker.exists()


async def test_request_timeout_expires_and_declines(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "timed-out"
    script = approval_script(marker, "call_slow", Reply("declined, fine"))
    async with running_manager(tmp_path, script, request_timeout=0.3) as env:
        manager = env.manager
        pending = await pending_approval(env, marker, "call_slow")
        row = await manager.requests.get(pending.approval_id)
        assert row.expires_at is not None
        expired = await next_event(
            pending.events,
            of_type("approval_resolved", approvalId=pending.approval_id),
            timeout=WAIT,
            message="the approval to time out",
        )
        assert expired.payload["status"] == "expired"
        assert expired.payload["reason"] == "no answer within 0.3 s"
        # The runtime was answered `decline`: the command did not run, the turn went on.
        result = await manager.turns.wait(
            pending.session.session_id, pending.turn.turn_id, timeout=WAIT
        )
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "declined, fine")
        assert not marker.exists()
        assert env.model.requests[1].output_for("call_slow") is not None
        row = await manager.requests.get(pending.approval_id)
        assert row.status is RequestStatus.EXPIRED
        assert row.resolution == {"timeout": 0.3, "reply": {"decision": "decline"}}
        assert await conflict_code(manager.approvals.decide(pending.approval_id, "accept")) == (
            "already_resolved"
        )
        declined = await ledger_types(env, pending.session.session_id, ["app_server.item."])
        statuses = [
            e.payload["params"]["item"].get("status")
            for e in declined
            if e.type == "app_server.item.completed"
            and e.payload["params"]["item"].get("type") == "commandExecution"
        ]
        assert statuses == ["declined"]


async def test_system_owned_session_approval_resolved_by_policy(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "system"
    script = approval_script(marker, "call_sys", Reply("policy said no"))
    # Workers' threads have codex's shell off by default; this one keeps it
    # (system_thread_config={}) so that its command asks for approval.
    async with running_manager(tmp_path, script, system_thread_config={}) as env:
        manager = env.manager
        session = await manager.sessions.create(system_owned=True, approval_policy="on-request")
        sid = session.session_id
        everyone = manager.events.subscribe(types=["approval"])
        named = manager.events.subscribe(thread_ids=[sid], types=["approval"])
        # People and clients cannot drive a worker session; the queue starts its turns
        # through the internal entry point.
        with pytest.raises(SystemSessionForbidden):
            await manager.turns.send(sid, "hello")
        handle = await manager.turns._start_turn(session, "touch the marker")

        asked = await next_event(named, of_type("approval"), timeout=WAIT, message="approval")
        answered = await next_event(named, of_type("approval_resolved"), timeout=WAIT)
        assert asked.system
        assert answered.system
        assert answered.payload == {
            "approvalId": asked.payload["approvalId"],
            "status": "resolved",
            "decision": "decline",
        }
        result = await manager.turns.wait(sid, handle.turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "policy said no")
        assert not marker.exists()

        # Never pending, recorded with who decided.
        assert await manager.approvals.list(sid) == []
        (row,) = await manager.requests.list(sid, statuses=None)
        assert row.status is RequestStatus.RESOLVED
        assert row.resolution == {"decision": "decline", "by": "policy"}
        assert row.reason == "resolved by the system-session policy"
        recorded = await ledger_types(env, sid, ["approval"])
        assert [e.type for e in recorded] == ["approval", "approval_resolved"]
        # System events reach only subscribers that name the thread.
        with pytest.raises(TimeoutError):
            await everyone.next(timeout=0.1)
        assert await manager.events.read(types=["approval"]) == []


# ---------------------------------------------------------------------- user input, tools


async def test_user_input_in_plan_mode(tmp_path: Path) -> None:
    script = [CallTool("request_user_input", QUESTIONS, call_id="call_ask"), Reply("blue it is")]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        session = await manager.sessions.create()
        sid = session.session_id
        events = manager.events.subscribe(thread_ids=[sid])
        handle = await manager.turns.send(sid, "ask me", collaboration_mode=PLAN_MODE)
        asked = await next_event(
            events, of_type("tool_user_input_requested"), timeout=WAIT, message="the question"
        )
        # The tool codex offers the model in plan mode, which the script called.
        first = env.model.requests[0]
        (spec,) = [tool for tool in first.tools if tool.get("name") == "request_user_input"]
        assert spec["parameters"]["required"] == ["questions"]

        request_id = asked.payload["requestId"]
        assert asked.payload["itemId"] == "call_ask"
        assert [q["id"] for q in asked.payload["questions"]] == ["color"]
        (listed,) = await manager.tool_input.list(sid)
        assert (listed.request_id, listed.method) == (request_id, "item/tool/requestUserInput")

        answered = await manager.tool_input.answer(request_id, answers={"color": "Blue"})
        assert answered.status is RequestStatus.RESOLVED
        resolved = await next_event(
            events, of_type("tool_user_input_resolved", requestId=request_id), timeout=WAIT
        )
        assert resolved.payload["status"] == "resolved"
        result = await manager.turns.wait(sid, handle.turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "blue it is")

        output = env.model.requests[1].output_for("call_ask")
        assert output is not None
        assert json.loads(output) == {"answers": {"color": {"answers": ["Blue"]}}}
        assert await conflict_code(manager.tool_input.answer(request_id, answers={})) == (
            "already_resolved"
        )
        assert env.model.errors == []


async def test_dynamic_tool_answered_by_registered_function(tmp_path: Path) -> None:
    tools = ToolRegistry()
    calls: list[tuple[str, int]] = []

    @tools.register
    def lookup(key: str, times: int = 1) -> str:
        """Look a key up.

        Args:
            key: What to look up.
            times: How often to repeat the value.
        """
        calls.append((key, times))
        return "|".join([f"value-of-{key}"] * times)

    script = [CallTool("lookup", {"key": "k1", "times": 2}, call_id="call_lookup"), Reply("ok")]
    async with running_manager(tmp_path, script, tools=tools) as env:
        manager = env.manager
        session = await manager.sessions.create(tools=["lookup"])
        sid = session.session_id
        assert [tool["name"] for tool in session.dynamic_tools] == ["lookup"]
        events = manager.events.subscribe(thread_ids=[sid], types=["tool_call"])
        result = await manager.turns.send_and_wait(sid, "look it up", timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "ok")

        assert calls == [("k1", 2)]
        assert "lookup" in env.model.requests[0].tool_names
        assert env.model.requests[1].output_for("call_lookup") == "value-of-k1|value-of-k1"

        requested = await next_event(events, of_type("tool_call_requested"), timeout=WAIT)
        assert (requested.payload["tool"], requested.payload["arguments"]) == (
            "lookup",
            {"key": "k1", "times": 2},
        )
        request_id = requested.payload["requestId"]
        resolved = await next_event(events, of_type("tool_call_resolved"), timeout=WAIT)
        assert resolved.payload == {
            "requestId": request_id,
            "status": "resolved",
            "success": True,
            "actor": "tool:lookup",
        }
        row = await manager.requests.get(request_id)
        assert row.status is RequestStatus.RESOLVED
        assert row.resolution == {"success": True, "actor": "tool:lookup"}
        assert await conflict_code(manager.tool_calls.respond(request_id, text="late")) == (
            "already_resolved"
        )


async def test_dynamic_tool_answered_by_hand(tmp_path: Path) -> None:
    declared = {
        "name": "ask_operator",
        "description": "Ask the operator.",
        "inputSchema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    }
    script = [CallTool("ask_operator", {"topic": "deploy"}, call_id="call_op"), Reply("thanks")]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        session = await manager.sessions.create(dynamic_tools=[declared])
        sid = session.session_id
        events = manager.events.subscribe(thread_ids=[sid])
        handle = await manager.turns.send(sid, "ask")
        requested = await next_event(
            events, of_type("tool_call_requested"), timeout=WAIT, message="the tool call"
        )
        request_id = requested.payload["requestId"]
        assert requested.payload["arguments"] == {"topic": "deploy"}
        (listed,) = await manager.tool_calls.list(sid)
        assert listed.request_id == request_id

        responded = await manager.tool_calls.respond(request_id, text="ship it", actor="operator")
        assert responded.status is RequestStatus.RESOLVED
        resolved = await next_event(
            events, of_type("tool_call_resolved", requestId=request_id), timeout=WAIT
        )
        assert resolved.payload["success"] is True
        result = await manager.turns.wait(sid, handle.turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "thanks")
        assert env.model.requests[1].output_for("call_op") == "ship it"

        assert await conflict_code(manager.tool_calls.respond(request_id, text="again")) == (
            "already_resolved"
        )
        assert (await manager.requests.get(request_id)).resolution == {
            "success": True,
            "actor": "operator",
        }


async def test_registered_tool_runs_in_a_system_owned_session(tmp_path: Path) -> None:
    """The policy answers what nobody would; a registered tool answers itself, so a worker
    session can use it."""
    tools = ToolRegistry()

    @tools.register
    def lookup(key: str) -> str:
        """Look a key up."""
        return f"value-of-{key}"

    script = [CallTool("lookup", {"key": "k2"}, call_id="call_worker"), Reply("worker done")]
    async with running_manager(tmp_path, script, tools=tools) as env:
        manager = env.manager
        session = await manager.sessions.create(system_owned=True, tools=["lookup"])
        sid = session.session_id
        handle = await manager.turns._start_turn(session, "use the tool")
        result = await manager.turns.wait(sid, handle.turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "worker done")
        assert env.model.requests[1].output_for("call_worker") == "value-of-k2"
        (row,) = await manager.requests.list(sid, statuses=None)
        assert (row.status, row.resolution) == (
            RequestStatus.RESOLVED,
            {"success": True, "actor": "tool:lookup"},
        )
        recorded = await ledger_types(env, sid, ["tool_call"])
        assert [(e.type, e.system) for e in recorded] == [
            ("tool_call_requested", True),
            ("tool_call_resolved", True),
        ]

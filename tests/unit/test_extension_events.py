"""The events extensions see, synthesized from the ledger by the Manager's running
dispatcher: file_change.approval_requested, turn.completed (with its file-change approval
count), suggest_request.requested, the app_server pass-through; none for a system-owned
session; and the dispatcher resuming after Lagged without losing an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core.extensions import ExtensionEvent, ExtensionRegistry, Toolbox
from codex_manager_core.extensions.dispatch import ExtensionDispatcher
from codex_manager_core.models import Event
from codex_manager_core.ports.store import EventQuery
from codex_manager_core.testing import MemoryRuntime
from tests.unit.actions_fixtures import make_runtime
from tests.unit.extension_dispatch_fixtures import WAIT, Providers, open_manager

pytestmark = pytest.mark.anyio


class Recorder:
    """A handler that keeps what it got; `wait(n)` waits (bounded) for n events."""

    def __init__(self) -> None:
        self.events: list[ExtensionEvent] = []
        self._changed = anyio.Event()

    async def __call__(self, event: ExtensionEvent, tools: Toolbox) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, count: int) -> list[ExtensionEvent]:
        with anyio.fail_after(WAIT):
            while len(self.events) < count:
                await self._changed.wait()
                self._changed = anyio.Event()
        return self.events

    def types(self) -> list[str]:
        return [event.type for event in self.events]


def recording(*event_types: str) -> tuple[Recorder, Providers]:
    recorder = Recorder()
    registry = ExtensionRegistry("recorder")
    for event_type in event_types:
        registry.on(event_type, recorder)
    return recorder, Providers(registry)


async def ledger(manager: Any, type_: str) -> list[Event]:
    events: list[Event] = await manager.store.read_events(
        EventQuery(limit=10_000, type_prefixes=(type_,))
    )
    return events


async def ask_approval(runtime: MemoryRuntime, method: str, params: dict[str, Any]) -> None:
    # The approval stays pending (or is expired at the turn's end); the answer is not ours.
    try:
        await runtime.server_request(method, params, timeout=WAIT)
    except Exception:
        return


async def test_file_change_approval_and_turn_completed(tmp_path: Path) -> None:
    runtime = make_runtime()
    recorder, providers = recording("file_change.approval_requested", "turn.completed")
    async with open_manager(tmp_path, runtime) as manager:
        providers.install(manager)
        project = await manager.projects.create("Demo")
        session = (await manager.sessions.create(project_id=project.project_id)).session_id
        params = {"threadId": session, "turnId": "turn_1", "itemId": "item_1", "changes": []}
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask_approval, runtime, "item/fileChange/requestApproval", params)
            # A command approval is not a file change: no event for it.
            command = {"threadId": session, "turnId": "turn_1", "itemId": "i2", "command": "ls"}
            tasks.start_soon(
                ask_approval, runtime, "item/commandExecution/requestApproval", command
            )
            [requested] = await recorder.wait(1)
            while len(await manager.approvals.list(session)) < 2:
                await runtime.notify("thread/status/changed", {"threadId": session})
            await runtime.notify(
                "turn/completed",
                {"threadId": session, "turn": {"id": "turn_1", "status": "completed", "items": []}},
            )
            _, completed = await recorder.wait(2)
            tasks.cancel_scope.cancel()
        [approval_event] = [
            event
            for event in await ledger(manager, "approval")
            if event.type == "approval" and event.payload["method"].startswith("item/fileChange")
        ]
    assert requested.type == "file_change.approval_requested"
    assert requested.correlation_id == str(approval_event.seq)
    payload = requested.payload
    assert payload["approvalId"] == approval_event.payload["approvalId"]
    assert (payload["threadId"], payload["sessionId"]) == (session, session)
    assert (payload["turnId"], payload["itemId"]) == ("turn_1", "item_1")
    assert payload["projectId"] == project.project_id
    assert payload["summary"] == "Apply file changes"
    assert payload["details"] == approval_event.payload["details"]
    assert payload["context"]["sourceSessionId"] == session
    assert requested.context.project_id == project.project_id
    assert requested.context.session_id == session
    assert requested.context.turn_id == "turn_1"
    assert completed.type == "turn.completed"
    assert completed.payload["sessionId"] == session
    assert completed.payload["projectId"] == project.project_id
    assert completed.payload["turnId"] == "turn_1"
    assert completed.payload["status"] == "completed"
    assert completed.payload["fileChangeApprovals"] == 1
    assert recorder.types() == ["file_change.approval_requested", "turn.completed"]


async def test_system_owned_sessions_give_no_events(tmp_path: Path) -> None:
    runtime = make_runtime()
    recorder, providers = recording(
        "file_change.approval_requested", "turn.completed", "app_server.*"
    )
    async with open_manager(tmp_path, runtime) as manager:
        providers.install(manager)
        worker = (await manager.sessions.create(system_owned=True)).session_id
        user = (await manager.sessions.create()).session_id
        params = {"threadId": worker, "turnId": "turn_w", "itemId": "i", "changes": []}
        # Answered at once by the system-session policy.
        await runtime.server_request("item/fileChange/requestApproval", params, timeout=WAIT)
        await runtime.notify("item/started", {"threadId": worker, "turnId": "turn_w"})
        turn = {"id": "turn_w", "status": "completed", "items": []}
        await runtime.notify("turn/completed", {"threadId": worker, "turn": turn})
        # Then one event of a user session: ledger order says the worker's came before.
        await runtime.notify("item/started", {"threadId": user, "turnId": "turn_u"})
        [only] = await recorder.wait(1)
        worker_events = await manager.store.read_events(
            EventQuery(limit=10_000, thread_ids=frozenset({worker}))
        )
    assert only.type == "app_server.item.started"
    assert only.context.session_id == user
    assert only.context.turn_id == "turn_u"
    assert {e.type for e in worker_events} >= {"approval", "app_server.turn.completed"}
    assert all(e.system for e in worker_events)
    assert recorder.types() == ["app_server.item.started"]


async def test_suggest_request_and_app_server_pass_through(tmp_path: Path) -> None:
    runtime = make_runtime()
    recorder, providers = recording(
        "suggest_request.requested", "app_server.item.started", "app_server.request.*"
    )
    async with open_manager(tmp_path, runtime) as manager:
        providers.install(manager)
        project = await manager.projects.create("P")
        session = (await manager.sessions.create(project_id=project.project_id)).session_id
        suggest = {
            "requestKey": "k1",
            "sessionId": session,
            "projectId": project.project_id,
            "threadId": session,
            "turnId": "turn_3",
            "userRequest": "next?",
            "turnTranscript": "",
        }
        ctx = manager.context
        await ctx.write(events=[ctx.event("suggest_request.requested", session, suggest)])
        await runtime.notify("item/started", {"threadId": session, "turnId": "turn_3"})
        async with anyio.create_task_group() as tasks:
            params = {"threadId": session, "turnId": "turn_3", "itemId": "i", "command": "ls"}
            tasks.start_soon(ask_approval, runtime, "item/commandExecution/requestApproval", params)
            suggested, started, request = await recorder.wait(3)
            tasks.cancel_scope.cancel()
        [notification] = await ledger(manager, "app_server.item.started")
    assert suggested.type == "suggest_request.requested"
    assert suggested.payload == suggest
    assert suggested.context.project_id == project.project_id
    assert suggested.context.turn_id == "turn_3"
    assert started.type == "app_server.item.started"
    assert started.payload == notification.payload
    assert started.correlation_id == str(notification.seq)
    assert started.context.project_id == project.project_id
    assert request.type == "app_server.request.item.command_execution.request_approval"
    assert request.payload["signalType"] == "request"
    assert request.context.session_id == session


async def test_dispatcher_resumes_after_lagged_without_losing_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = anyio.Event()
    got: list[int] = []
    all_in = anyio.Event()

    async def slow(event: ExtensionEvent, tools: Toolbox) -> None:
        await release.wait()
        got.append(int(event.payload["n"]))
        if len(got) == 6:
            all_in.set()

    registry = ExtensionRegistry("slow")
    registry.on("app_server.test.*", slow)
    providers = Providers(registry)
    caplog.set_level("INFO", logger="codex_manager_core.extensions.dispatch")
    async with open_manager(tmp_path, extension_dispatch=False) as manager:
        session = (await manager.sessions.create()).session_id
        dispatcher = ExtensionDispatcher(
            manager.context,
            executor=manager.actions,
            jobs=manager.jobs,
            settings=manager.settings,
            subscriptions_for=providers.subscriptions_for,
            action_allowed=providers.action_allowed,
            buffer=1,
        )
        ctx = manager.context
        async with anyio.create_task_group() as tasks:
            await tasks.start(dispatcher.run)
            for n in range(6):
                # One batch each: with a buffer of 1 the blocked dispatcher falls behind.
                await ctx.write(events=[ctx.event("app_server.test.ping", session, {"n": n})])
            release.set()
            with anyio.fail_after(WAIT):
                await all_in.wait()
            tasks.cancel_scope.cancel()
    assert got == [0, 1, 2, 3, 4, 5]
    assert any("fell behind" in record.getMessage() for record in caplog.records)


async def test_an_extension_decides_a_file_change_approval(tmp_path: Path) -> None:
    """End to end: the synthesized event, the original's approval.decide payload, the
    event's scope, the runtime's answer."""
    from codex_manager_core.extensions import ActionRequest

    async def approve(event: ExtensionEvent, tools: Toolbox) -> ActionRequest:
        settings = await tools.session_settings()
        decision = "accept" if settings.get("autoApprove") else "decline"
        payload = {"approvalId": event.payload["approvalId"], "decision": decision}
        return ActionRequest("approval.decide", payload)

    registry = ExtensionRegistry("approver")
    registry.on("file_change.approval_requested", approve)
    marker = Recorder()
    registry.on("app_server.test.marker", marker)
    runtime = make_runtime()
    answers: list[Any] = []
    async with open_manager(tmp_path, runtime) as manager:
        Providers(registry).install(manager)
        session = (await manager.sessions.create()).session_id
        await manager.settings.set(session, "autoApprove", True)
        params = {"threadId": session, "turnId": "turn_1", "itemId": "i", "changes": []}
        with anyio.fail_after(WAIT):
            answers.append(
                await runtime.server_request(
                    "item/fileChange/requestApproval", params, timeout=WAIT
                )
            )
        # Dispatch is sequential: once the marker is emitted, the approval's emit is done.
        ctx = manager.context
        await ctx.write(events=[ctx.event("app_server.test.marker", session, {})])
        await marker.wait(1)
        [summary] = [
            s
            for s in manager.extension_dispatcher.recent()
            if s.event_type == "file_change.approval_requested"
        ]
        [decided] = await ledger(manager, "approval_resolved")
    assert answers == [{"decision": "accept"}]
    assert summary.performed_action is not None
    assert summary.performed_action.action_type == "approval.decide"
    assert decided.payload is not None


async def test_any_approval_requested_and_resolved_reach_extensions(tmp_path: Path) -> None:
    runtime = make_runtime()
    recorder, providers = recording("approval.requested", "approval.resolved")
    async with open_manager(tmp_path, runtime) as manager:
        providers.install(manager)
        session = (await manager.sessions.create()).session_id
        command = {"threadId": session, "turnId": "turn_1", "itemId": "i2", "command": "ls"}
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                ask_approval, runtime, "item/commandExecution/requestApproval", command
            )
            [requested] = await recorder.wait(1)
            approval_id = requested.payload["approvalId"]
            await manager.approvals.decide(approval_id, "decline")
            _, resolved = await recorder.wait(2)
            tasks.cancel_scope.cancel()
    assert requested.type == "approval.requested"
    assert requested.payload["method"] == "item/commandExecution/requestApproval"
    assert (requested.context.session_id, requested.context.turn_id) == (session, "turn_1")
    assert resolved.type == "approval.resolved"
    assert resolved.payload["approvalId"] == approval_id
    assert resolved.payload["decision"] == "decline"
    assert resolved.context.session_id == session

"""`ExtensionDispatcher.emit`: dispatch order, timeouts on the Manager's clock (async
handlers cancelled, sync ones abandoned, toolboxes closed), handler errors and invalid
results, the toolbox (enqueue, settings), and actions through the core's executor (first
performed wins, scope, idempotency, trust, the original's payload shapes)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest

from codex_manager_core.extensions import (
    ActionRequest,
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    ExtensionEvent,
    ExtensionRegistry,
    HandlerResult,
    Toolbox,
    ToolboxClosed,
)
from codex_manager_core.extensions.model import ActionOutcome, EmitSummary, EnvelopeKind
from codex_manager_core.ports.store import EventQuery
from codex_manager_core.testing import FakeClock
from tests.unit.extension_dispatch_fixtures import WAIT, Providers, open_manager

pytestmark = pytest.mark.anyio


def event_for(session_id: str | None, project_id: str | None = None, **kw: Any) -> ExtensionEvent:
    return ExtensionEvent(
        kw.pop("type", "test.event"),
        kw.pop("payload", {}),
        EventContext(project_id, session_id, kw.pop("turn_id", None)),
        correlation_id="7",
    )


def entry(message_id: str, session_id: str, content: str = "hi") -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "entry": {
            "messageId": message_id,
            "turnId": "turn_1",
            "role": "system",
            "type": "note",
            "content": content,
        },
    }


def returning(value: Any) -> Any:
    async def handler(event: ExtensionEvent, tools: Toolbox) -> Any:
        return value

    return handler


async def executed(manager: Any) -> list[Any]:
    return list(
        await manager.store.read_events(EventQuery(limit=1000, type_prefixes=("action_executed",)))
    )


async def test_dispatch_order_priority_module_index(tmp_path: Path) -> None:
    calls: list[str] = []

    def named(name: str) -> Any:
        async def handler(event: ExtensionEvent, tools: Toolbox) -> None:
            calls.append(name)

        return handler

    b, a, c = ExtensionRegistry("b"), ExtensionRegistry("a"), ExtensionRegistry("c")
    b.on("test.event", named("b0"))
    a.on("test.event", named("a0"))
    a.on("test.event", named("a1"))
    a.on("other.event", named("never"))
    c.on("test.event", named("c0"), priority=10)
    async with open_manager(tmp_path) as manager:
        Providers(b, a, c).install(manager)
        summary = await manager.extension_dispatcher.emit(event_for("s"))
    assert calls == ["c0", "a0", "a1", "b0"]
    assert summary.handlers == 4
    assert [e.module for e in summary.envelopes] == ["c", "a", "a", "b"]
    assert all(e.kind is EnvelopeKind.HANDLER_RESULT for e in summary.envelopes)
    assert manager.extension_dispatcher.recent()[-1] == summary


async def test_timeout_cancels_async_handler_and_closes_its_toolbox(tmp_path: Path) -> None:
    clock = FakeClock()
    started = anyio.Event()
    seen: dict[str, Any] = {}

    async def stuck(event: ExtensionEvent, tools: Toolbox) -> None:
        seen["tools"] = tools
        started.set()
        try:
            await anyio.Event().wait()
        finally:
            seen["cancelled"] = True

    after: list[str] = []

    async def next_one(event: ExtensionEvent, tools: Toolbox) -> None:
        after.append("ran")

    registry = ExtensionRegistry("slow")
    registry.on("test.event", stuck, timeout=5)
    registry.on("test.event", next_one)
    async with open_manager(tmp_path, clock=clock) as manager:
        Providers(registry).install(manager)
        summaries: list[EmitSummary] = []

        async def emit() -> None:
            summaries.append(await manager.extension_dispatcher.emit(event_for("s")))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(emit)
            with anyio.fail_after(WAIT):
                await started.wait()
            await clock.wait_for_deadline(clock.monotonic() + 5)
            clock.advance(5)
        with pytest.raises(ToolboxClosed, match="closed"):
            await seen["tools"].session_settings()
    [summary] = summaries
    timeout, ok = summary.envelopes
    assert seen["cancelled"] is True
    assert timeout.kind is EnvelopeKind.HANDLER_ERROR
    assert timeout.status == "timeout"
    assert timeout.error == "the handler did not return within 5 s"
    assert ok.kind is EnvelopeKind.HANDLER_RESULT
    assert after == ["ran"]


async def test_sync_handler_runs_in_a_thread_and_reads_settings(tmp_path: Path) -> None:
    def sync(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
        value = anyio.from_thread.run(tools.session_setting, "review")
        whole = anyio.from_thread.run(tools.session_settings)
        return HandlerResult({"review": value, "keys": sorted(whole)})

    registry = ExtensionRegistry("sync")
    registry.on("test.event", sync)
    async with open_manager(tmp_path) as manager:
        Providers(registry).install(manager)
        session = (await manager.sessions.create()).session_id
        await manager.settings.set(session, "review", {"auto": True})
        summary = await manager.extension_dispatcher.emit(event_for(session))
    [envelope] = summary.envelopes
    assert envelope.kind is EnvelopeKind.HANDLER_RESULT
    assert envelope.details == {"review": {"auto": True}, "keys": ["review"]}


async def test_sync_handler_past_its_timeout_is_abandoned_with_a_closed_toolbox(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    entered, release = threading.Event(), threading.Event()
    late: list[BaseException] = []
    finished = threading.Event()

    def blocking(event: ExtensionEvent, tools: Toolbox) -> None:
        entered.set()
        release.wait(WAIT)
        try:
            anyio.from_thread.run(tools.session_settings)
        except BaseException as exc:
            late.append(exc)
        finally:
            finished.set()

    registry = ExtensionRegistry("blocking")
    registry.on("test.event", blocking, timeout=2)
    async with open_manager(tmp_path, clock=clock) as manager:
        Providers(registry).install(manager)
        summaries: list[EmitSummary] = []

        async def emit() -> None:
            summaries.append(await manager.extension_dispatcher.emit(event_for("s")))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(emit)
            assert await anyio.to_thread.run_sync(entered.wait, WAIT)
            await clock.wait_for_deadline(clock.monotonic() + 2)
            clock.advance(2)
        # The emit returned while the thread still runs; now let it try its toolbox.
        release.set()
        assert await anyio.to_thread.run_sync(finished.wait, WAIT)
    [summary] = summaries
    assert summary.envelopes[0].status == "timeout"
    assert len(late) == 1
    assert isinstance(late[0], ToolboxClosed)


async def test_errors_and_invalid_results_are_handler_errors(tmp_path: Path) -> None:
    async def boom(event: ExtensionEvent, tools: Toolbox) -> None:
        raise RuntimeError("kaput")

    registry = ExtensionRegistry("bad")
    registry.on("test.event", boom, priority=1)
    registry.on("test.event", returning(42), priority=2)
    registry.on(
        "test.event", returning({"kind": "action_result", "status": "performed"}), priority=3
    )
    registry.on("test.event", returning({"kind": "bogus"}), priority=4)
    registry.on("test.event", returning(HandlerResult(object())), priority=5)
    registry.on("test.event", returning({"kind": "action_request", "payload": {}}), priority=6)
    registry.on("test.event", returning({"kind": "handler_result", "details": [1]}), priority=7)
    async with open_manager(tmp_path) as manager:
        Providers(registry).install(manager)
        summary = await manager.extension_dispatcher.emit(event_for("s"))
    *errors, fine = summary.envelopes
    assert [e.kind for e in errors] == [EnvelopeKind.HANDLER_ERROR] * 6
    assert errors[0].error == "RuntimeError: kaput"
    assert errors[1].error is not None
    assert "got int" in errors[1].error
    assert errors[2].error is not None
    assert "may not return an action_result" in errors[2].error
    assert errors[3].error == (
        "invalid result: unknown result kind 'bogus'; expected handler_result or action_request"
    )
    assert errors[4].error is not None
    assert errors[4].error.startswith("invalid result: handler_result.details must be JSON")
    assert errors[5].error is not None
    assert "actionType" in errors[5].error
    assert fine.kind is EnvelopeKind.HANDLER_RESULT
    assert fine.details == [1]


async def test_running_dispatcher_survives_a_raising_handler(tmp_path: Path) -> None:
    seen: list[str] = []
    both = anyio.Event()

    async def flaky(event: ExtensionEvent, tools: Toolbox) -> None:
        seen.append(str(event.payload["n"]))
        if len(seen) == 2:
            both.set()
        raise ValueError("every time")

    registry = ExtensionRegistry("flaky")
    registry.on("app_server.test.*", flaky)
    async with open_manager(tmp_path) as manager:
        Providers(registry).install(manager)
        session = (await manager.sessions.create()).session_id
        ctx = manager.context
        for n in (1, 2):
            await ctx.write(events=[ctx.event("app_server.test.ping", session, {"n": n})])
        with anyio.fail_after(WAIT):
            await both.wait()
    assert seen == ["1", "2"]


async def test_first_performed_action_wins(tmp_path: Path) -> None:
    registry = ExtensionRegistry("act")
    async with open_manager(tmp_path) as manager:
        session = (await manager.sessions.create()).session_id
        first = ActionRequest("transcript.upsert", entry("m1", session))
        registry.on("test.event", returning(first), priority=1)
        second = {"kind": "action_request", "actionType": "transcript.upsert"}
        registry.on(
            "test.event", returning({**second, "payload": entry("m2", session)}), priority=2
        )
        Providers(registry).install(manager)
        summary = await manager.extension_dispatcher.emit(event_for(session))
        rows = await manager.store.list_transcript_entries(session)
        records = await executed(manager)
    won, later = summary.envelopes
    assert won.status == ActionOutcome.PERFORMED.value
    assert summary.performed_action == won
    assert later.kind is EnvelopeKind.ACTION_RESULT
    assert later.status == ActionOutcome.NOT_ELIGIBLE.value
    assert [row.message_id for row in rows] == ["m1"]
    assert len(records) == 1
    assert records[0].payload["actor"] == "extension:act"


async def test_scope_mismatch_is_forbidden_naming_it(tmp_path: Path) -> None:
    registry = ExtensionRegistry("act")
    async with open_manager(tmp_path) as manager:
        mine = (await manager.sessions.create()).session_id
        other = (await manager.sessions.create()).session_id
        registry.on("test.event", returning(ActionRequest("transcript.upsert", entry("m", other))))
        Providers(registry).install(manager)
        summary = await manager.extension_dispatcher.emit(event_for(mine))
        rows = await manager.store.list_transcript_entries(other)
    [envelope] = summary.envelopes
    assert envelope.status == ActionOutcome.FORBIDDEN.value
    assert envelope.error == f"session {other} is not the scope's session {mine}"
    assert rows == []
    assert summary.performed_action is None


async def test_idempotency_replay_and_conflict(tmp_path: Path) -> None:
    registry = ExtensionRegistry("act")
    requests: list[ActionRequest] = []

    async def next_request(event: ExtensionEvent, tools: Toolbox) -> ActionRequest:
        return requests.pop(0)

    registry.on("test.event", next_request)
    async with open_manager(tmp_path) as manager:
        session = (await manager.sessions.create()).session_id
        Providers(registry).install(manager)
        requests.extend(
            ActionRequest("transcript.upsert", entry("m1", session, text), idempotency_key="k")
            for text in ("one", "one", "two")
        )
        emit = manager.extension_dispatcher.emit
        outcomes = [(await emit(event_for(session))).envelopes[0] for _ in range(3)]
    assert [e.status for e in outcomes] == ["performed", "already_resolved", "conflict"]
    assert outcomes[2].error is not None
    assert outcomes[2].error.startswith("idempotency_conflict")
    assert outcomes[2].idempotency_key == "k"


async def test_undeclared_action_is_refused_before_the_executor(tmp_path: Path) -> None:
    registry = ExtensionRegistry("sneaky")
    async with open_manager(tmp_path) as manager:
        session = (await manager.sessions.create()).session_id
        registry.on(
            "test.event",
            returning(ActionRequest("session.rename", {"sessionId": session, "title": "x"})),
        )
        providers = Providers(registry)
        providers.refused[("sneaky", "session.rename")] = "session.rename is not declared"
        providers.install(manager)
        summary = await manager.extension_dispatcher.emit(event_for(session))
        records = await executed(manager)
    [envelope] = summary.envelopes
    assert envelope.status == ActionOutcome.FORBIDDEN.value
    assert envelope.error == "undeclared_capability: session.rename is not declared"
    assert records == []


async def test_toolbox_enqueue_and_original_queue_enqueue_shape(tmp_path: Path) -> None:
    async def enqueue(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult:
        return await tools.enqueue_job("note", {"text": "review"})

    registry = ExtensionRegistry("q")
    registry.on("test.event", enqueue)
    async with open_manager(tmp_path) as manager:
        project = await manager.projects.create("P")
        session = (await manager.sessions.create(project_id=project.project_id)).session_id
        Providers(registry).install(manager)
        first = await manager.extension_dispatcher.emit(event_for(session, project.project_id))
        again = await manager.extension_dispatcher.emit(event_for(session, project.project_id))
        [job] = (await manager.jobs.list()).items
        # The original's queue.enqueue shape, adapted for the executor.
        action = ExtensionRegistry("act")
        original = {
            "type": "note",
            "projectId": project.project_id,
            "sourceSessionId": session,
            "payload": {"text": "other"},
        }
        action.on("test.event", returning(ActionRequest("queue.enqueue", original)))
        wrong = {**original, "sourceSessionId": "someone-else"}
        action.on("test.event", returning(ActionRequest("queue.enqueue", wrong)), priority=0)
        Providers(action).install(manager)
        acted = await manager.extension_dispatcher.emit(event_for(session, project.project_id))
        jobs = (await manager.jobs.list()).items
    assert first.envelopes[0].kind is EnvelopeKind.ENQUEUE_RESULT
    assert first.envelopes[0].status == EnqueueStatus.ENQUEUED.value
    assert first.envelopes[0].details == {"jobId": job.job_id, "jobType": "note"}
    assert again.envelopes[0].status == EnqueueStatus.ALREADY_QUEUED.value
    assert job.owner == project.project_id
    assert job.source_session_id == session
    refused, performed = acted.envelopes
    assert refused.status == ActionOutcome.FORBIDDEN.value
    assert refused.error == f"sourceSessionId someone-else is not the event's session {session}"
    assert performed.status == ActionOutcome.PERFORMED.value
    assert len(jobs) == 2

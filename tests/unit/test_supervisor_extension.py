"""The supervisor extension's handlers (extensions/supervisor/extension.py) on a Manager
over MemoryRuntime: the job each enqueues for its session's settings, nothing when the
settings are off (the default), reject winning, a settings change deciding the next event,
and suggested requests routed through it (the job id answered synchronously, the ledger
event not emitted a second time, the built-in handler with dispatch off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import Manager
from codex_manager_core.errors import Conflict
from codex_manager_core.extensions import EventContext, ExtensionEvent, ExtensionRegistry
from codex_manager_core.extensions.model import EnvelopeKind
from codex_manager_core.ports.store import EventQuery
from tests.unit.actions_fixtures import make_runtime
from tests.unit.extension_dispatch_fixtures import Providers, open_manager
from tests.unit.supervisor_fixtures import (
    install_supervisor,
    instruction_jobs,
    load_module,
    payload_of,
    stub_agent_instruction,
)

pytestmark = pytest.mark.anyio

SUPERVISOR = load_module()
POLICY = SUPERVISOR.Policy


def file_change(
    session: str, project: str | None, item: str, *, approval: str = "appr_1", **extra: Any
) -> ExtensionEvent:
    payload: dict[str, Any] = {
        "approvalId": approval,
        "sessionId": session,
        "threadId": session,
        "turnId": "turn_1",
        "itemId": item,
        "projectId": project,
        "summary": "Apply file changes",
        "details": {"changes": [{"path": "a.txt", "kind": "add", "diff": "+hello"}]},
        **extra,
    }
    return ExtensionEvent(
        "file_change.approval_requested",
        payload,
        EventContext(project, session, "turn_1"),
        correlation_id="1",
    )


def settings(**file_change: Any) -> dict[str, Any]:
    return {"fileChange": file_change}


async def setup(manager: Manager) -> tuple[str, str]:
    stub_agent_instruction(manager)
    install_supervisor(manager)
    project = (await manager.projects.create("Demo")).project_id
    session = (await manager.sessions.create(project_id=project)).session_id
    return project, session


async def test_file_change_review_job_with_explainability_and_auto_approve(
    tmp_path: Path,
) -> None:
    runtime = make_runtime()
    async with open_manager(tmp_path, runtime) as manager:
        project, session = await setup(manager)
        auto = {"approve": {"enabled": True, "threshold": "low"}}
        await manager.settings.set(
            session, "supervisor", settings(diffExplainability=True, autoActions=auto)
        )
        params = {"threadId": session, "turnId": "turn_1", "itemId": "item_1", "changes": []}
        async with anyio.create_task_group() as tasks:

            async def ask() -> None:
                try:
                    await runtime.server_request(
                        "item/fileChange/requestApproval", params, timeout=10
                    )
                except Exception:
                    return  # expired at shutdown: the answer is not this test's

            tasks.start_soon(ask)
            with anyio.fail_after(10):
                while not await instruction_jobs(manager):
                    await runtime.notify("thread/status/changed", {"threadId": session})
            tasks.cancel_scope.cancel()
        [job] = await instruction_jobs(manager)
        [approval] = await manager.approvals.list(session)
    payload = payload_of(job)
    assert job.owner == project
    assert payload["agent"] == "supervisor"
    assert payload["jobKind"] == "file_change_supervisor_review"
    assert payload["dedupeKey"] == f"file_change_supervisor_review:{session}:turn_1:item_1"
    assert payload["expectResponse"] == "action_intents"
    assert payload["approvalId"] == approval.request_id
    assert payload["anchorItemId"] == "item_1"
    targets = [(t["messageId"], t["type"]) for t in payload["supplementalTargets"]]
    assert targets == [
        (f"file-change-explain::{session}:turn_1:item_1", "fileChange.explainability"),
        (f"file-change-insight::{session}:turn_1:item_1", "fileChange.supervisorInsight"),
    ]
    text = payload["instructionText"]
    assert '"kind": "approval.decide"' in text
    assert approval.request_id in text
    assert "risk at or below low: accept" in text
    assert "at or above" not in text  # no reject or steer rule


async def test_nothing_is_enqueued_with_the_settings_off(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        project, session = await setup(manager)
        dispatcher = manager.extension_dispatcher
        events = [
            file_change(session, project, "item_1"),
            ExtensionEvent(
                "turn.completed",
                {"sessionId": session, "turnId": "turn_1", "fileChangeApprovals": 2},
                EventContext(project, session, "turn_1"),
            ),
            user_message(session, project, "New chat"),
        ]
        for value in (None, {"fileChange": {"autoActions": {"approve": {"enabled": False}}}}):
            if value is not None:
                await manager.settings.set(session, "supervisor", value)
            for event in events:
                summary = await dispatcher.emit(event)
                [envelope] = summary.envelopes
                assert envelope.kind is EnvelopeKind.HANDLER_RESULT, envelope
        assert await instruction_jobs(manager) == []


def test_reject_wins_and_thresholds() -> None:
    both = POLICY(approve="high", reject="med")
    assert [both.decide(risk) for risk in ("low", "med", "high")] == [
        "approve",
        "reject",
        "reject",
    ]
    steer = POLICY(approve="low", steer="med")
    assert [steer.decide(risk) for risk in ("low", "med", "high")] == ["approve", "steer", "steer"]
    assert POLICY().decide("high") is None
    malformed = SUPERVISOR.policy_of(
        {"supervisor": {"fileChange": {"autoActions": {"approve": {"enabled": True}}}}}
    )
    assert malformed == POLICY()


async def test_settings_changed_between_two_events_change_the_next_decision(
    tmp_path: Path,
) -> None:
    async with open_manager(tmp_path) as manager:
        project, session = await setup(manager)
        approve = {"approve": {"enabled": True, "threshold": "low"}}
        await manager.settings.set(session, "supervisor", settings(autoActions=approve))
        started = user_message(session, project, "New chat")
        item = {"type": "fileChange", "id": "item_1", "changes": [{"path": "x.py", "diff": "+y"}]}
        started.payload["params"]["item"] = item
        await manager.extension_dispatcher.emit(started)
        await manager.extension_dispatcher.emit(file_change(session, project, "item_1"))
        both = {**approve, "reject": {"enabled": True, "threshold": "low"}}
        await manager.settings.set(session, "supervisor", settings(autoActions=both))
        await manager.extension_dispatcher.emit(
            file_change(session, project, "item_2", approval="appr_2", riskLevel="medium")
        )
        first, second = (payload_of(job) for job in await instruction_jobs(manager))
    assert "at or below low: accept" in first["instructionText"]
    # The diff of the item as it started is in the instruction.
    assert '"path": "x.py", "diff": "+y"' in first["instructionText"]
    assert "at or above" not in first["instructionText"]
    assert "explainability" not in str(first["supplementalTargets"])
    # Reject at low and approve at low both match every low risk: reject is named first.
    assert (
        "risk at or above low: decline; risk at or below low: accept" in (second["instructionText"])
    )
    assert "Codex's own review judged this change's risk: med" in second["instructionText"]
    assert second["dedupeKey"].endswith(":item_2")


def user_message(session: str, project: str | None, title: str) -> ExtensionEvent:
    item = {"type": "userMessage", "id": "u1", "content": [{"type": "text", "text": "Fix CI"}]}
    return ExtensionEvent(
        "app_server.item.started",
        {
            "method": "item/started",
            "params": {"threadId": session, "turnId": "turn_1", "item": item},
            "context": {"threadId": session, "turnId": "turn_1"},
            "session": {"id": session, "title": title, "projectId": project},
        },
        EventContext(project, session, "turn_1"),
    )


async def test_turn_review_and_initial_rename(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        project, session = await setup(manager)
        await manager.settings.set(
            session,
            "supervisor",
            {"turnReview": {"enabled": True}, "initialRename": {"enabled": True}},
        )
        dispatcher = manager.extension_dispatcher
        for approvals, turn in ((0, "turn_0"), (1, "turn_1")):
            await dispatcher.emit(
                ExtensionEvent(
                    "turn.completed",
                    {"sessionId": session, "turnId": turn, "fileChangeApprovals": approvals},
                    EventContext(project, session, turn),
                )
            )
        await dispatcher.emit(user_message(session, project, "Already named"))
        await dispatcher.emit(user_message(session, project, "New chat"))
        review, rename = (payload_of(job) for job in await instruction_jobs(manager))
    assert review["jobKind"] == "turn_supervisor_review"
    assert review["dedupeKey"] == f"turn_supervisor_review:{session}:turn_1"
    assert review["supplementalTargets"][0]["type"] == "turn.supervisorReview"
    assert '"kind": "transcript.upsert"' in review["instructionText"]
    assert rename["jobKind"] == "session_initial_rename"
    assert rename["dedupeKey"] == f"session_initial_rename:{session}"
    assert '"kind": "session.rename"' in rename["instructionText"]
    assert "Fix CI" in rename["instructionText"]


async def test_suggest_request_goes_through_the_supervisor(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        _, session = await setup(manager)
        first = await manager.suggestions.enqueue(session, draft="next steps")
        again = await manager.suggestions.enqueue(session, draft="other")
        [job] = await instruction_jobs(manager)
        [requested, _] = await manager.store.read_events(
            EventQuery(limit=10, type_prefixes=("suggest_request.requested",))
        )
        # The background dispatcher skips the ledger copy: the service emitted it itself.
        assert await manager.extension_dispatcher.dispatch(requested) == []
    assert (first.job_id, first.dedupe) == (job.job_id, "enqueued")
    assert (again.job_id, again.dedupe, again.request_key) == (
        job.job_id,
        "already_queued",
        first.request_key,
    )
    payload = payload_of(job)
    assert payload["jobKind"] == "suggest_request"
    assert payload["dedupeKey"] == f"suggest_request:{session}"
    assert payload["completionSignal"] == {
        "kind": "suggested_request",
        "requestKey": first.request_key,
    }
    assert payload["fallbackSuggestionDraft"] == "next steps"
    assert requested.payload["directDispatch"] is True


async def test_suggest_request_conflict_when_no_extension_enqueues(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        stub_agent_instruction(manager)
        registry = ExtensionRegistry("quiet")
        registry.on("suggest_request.requested", lambda event, tools: None)
        Providers(registry).install(manager)
        session = (await manager.sessions.create()).session_id
        with pytest.raises(Conflict) as caught:
            await manager.suggestions.enqueue(session, draft="x")
        assert caught.value.code == "job_conflict"
        assert await instruction_jobs(manager) == []


async def test_suggest_request_with_dispatch_off_uses_the_builtin_handler(
    tmp_path: Path,
) -> None:
    async with open_manager(tmp_path, extension_dispatch=False) as manager:
        stub_agent_instruction(manager)
        registry = ExtensionRegistry("quiet")
        registry.on("suggest_request.requested", lambda event, tools: None)
        Providers(registry).install(manager)
        session = (await manager.sessions.create()).session_id
        job = await manager.suggestions.enqueue(session, draft="x")
        [stored] = await instruction_jobs(manager)
        [requested] = await manager.store.read_events(
            EventQuery(limit=10, type_prefixes=("suggest_request.requested",))
        )
    assert job.job_id == stored.job_id
    assert "directDispatch" not in requested.payload

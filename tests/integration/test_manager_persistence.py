"""Close the Manager and open it again on the same data dir (acceptance 2): everything the
first one recorded is there, and an old session takes a new turn with its history.

Both Managers run the REAL codex binary against one ScriptedModel, so the model's recorded
requests show what the reopened runtime sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_manager_core import Event, Gone, Manager, SettingValue, TurnStatus
from codex_manager_core.testing import Reply, ScriptedModel
from tests.integration.manager_fixtures import next_event, open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TURN_TIMEOUT = 20.0


async def all_events(manager: Manager) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await manager.events.read(since=events[-1].seq if events else 0, limit=1000)
        events.extend(page)
        if len(page) < 1000:
            return events


def ledger_view(events: list[Event]) -> list[tuple[int, str, str | None, Any]]:
    return [(e.seq, e.type, e.thread_id, e.payload) for e in events]


async def test_reopen_keeps_everything_and_resumes_old_sessions(tmp_path: Path) -> None:
    script = [
        Reply("first answer"),
        Reply("doomed answer"),
        Reply("second answer"),
        Reply("fresh answer"),
    ]
    async with ScriptedModel(script) as model:
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            project = await manager.projects.create("Keep", str(env.workdir))
            other = await manager.projects.create("Other")
            await manager.projects.rename(other.project_id, "Other renamed")
            session = await manager.sessions.create(
                title="Kept chat", project_id=project.project_id
            )
            sid = session.session_id
            await manager.controls.apply(
                sid, model="mock-model-b", approval_policy="never", actor="alice"
            )
            await manager.settings.update(sid, {"theme": "dark", "n": [1, 2]})
            await manager.controls.apply(
                sid, scope="default", approval_policy="on-request", network_access="enabled"
            )
            result = await manager.turns.send_and_wait(
                sid, "remember the word kiwi", timeout=TURN_TIMEOUT
            )
            assert result.final_text == "first answer"
            await manager.transcript.upsert(
                sid,
                {
                    "messageId": "note-1",
                    "turnId": result.turn_id,
                    "role": "system",
                    "type": "note",
                    "content": "an extension's note",
                },
            )
            fresh = await manager.sessions.create(title="Never used")
            doomed = await manager.sessions.create(title="Doomed chat")
            await manager.turns.send_and_wait(doomed.session_id, "bye", timeout=TURN_TIMEOUT)
            await manager.sessions.delete(doomed.session_id)

            before_session = await manager.sessions.get(sid)
            before_projects = await manager.projects.list()
            before_defaults = await manager.controls.defaults()
            before_transcript = await manager.transcript.get(sid, limit=None)
            before_turn = await manager.turns.get(result.turn_id)
            before_events = await all_events(manager)
        # Everything the first Manager wrote is durable once it closed.
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            after_events = await all_events(manager)
            closed_events = after_events[: len(before_events)]
            assert ledger_view(closed_events) == ledger_view(before_events)
            seqs = [e.seq for e in after_events]
            assert seqs == list(range(1, len(seqs) + 1)), "the ledger has a gap"
            assert [e.payload["state"] for e in after_events if e.type == "runtime_state_changed"][
                -2:
            ] == ["stopped", "ready"]

            assert await manager.projects.list() == before_projects
            assert [p.name for p in before_projects] == ["Keep", "Other renamed"]
            record = await manager.sessions.get(sid)
            assert record == before_session
            assert (record.title, record.project_id) == ("Kept chat", project.project_id)
            assert record.controls.model == "mock-model-b"
            assert record.controls.approval_policy == "never"
            assert record.controls.settings == {"theme": "dark", "n": [1, 2]}
            assert await manager.settings.get_key(sid, "theme") == SettingValue(
                "theme", True, "dark"
            )
            assert await manager.controls.defaults() == before_defaults
            assert before_defaults.network_access == "enabled"
            assert await manager.turns.get(result.turn_id) == before_turn
            with pytest.raises(Gone) as gone:
                await manager.sessions.get(doomed.session_id)
            assert gone.value.title == "Doomed chat"
            listed = await manager.sessions.list(archived=None, include_system_owned=True)
            assert sorted(r.session_id for r in listed.items) == sorted([sid, fresh.session_id])

            transcript = await manager.transcript.get(sid, limit=None)
            assert transcript == before_transcript
            types = [row["type"] for row in transcript.entries]
            assert types.count("session.controls.updated") == 3
            assert "note" in types
            assert [row["content"] for row in transcript.entries if row["role"] != "system"] == [
                "remember the word kiwi",
                "first answer",
            ]

            # The old session resumes by itself and takes a turn with its earlier history.
            events = manager.events.subscribe(thread_ids=[sid], types=["app_server.turn.completed"])
            result = await manager.turns.send_and_wait(sid, "which word?", timeout=TURN_TIMEOUT)
            assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "second answer")
            await next_event(events, lambda e: True, message="the new turn's completion")
            request = model.requests[-1]
            assert request.last_user_text == "which word?"
            assert request.model == "mock-model-b"
            history = str(request.input)
            assert "remember the word kiwi" in history
            assert "first answer" in history
            assert "bye" not in history
            assert (await manager.sessions.get(sid)).last_turn_id == result.turn_id

            # A session that never got a message survives too (codex keeps its thread).
            assert (await manager.sessions.get(fresh.session_id)).materialized is False
            assert (await manager.sessions.resume(fresh.session_id))["id"] == fresh.session_id
            result = await manager.turns.send_and_wait(
                fresh.session_id, "first words", timeout=TURN_TIMEOUT
            )
            assert result.final_text == "fresh answer"
            assert (await manager.sessions.get(fresh.session_id)).materialized is True
        assert model.errors == []

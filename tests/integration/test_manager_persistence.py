"""Close the Manager and open it again on the same data dir (acceptance 2): everything the
first one recorded is there, and an old session takes a new turn with its history.

Both Managers run the REAL codex binary against one ScriptedModel, so the model's recorded
requests show what the reopened runtime sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_manager_core import Event, Gone, Manager, TurnStatus
from codex_manager_core.testing import Reply, ScriptedModel
from tests.integration.manager_fixtures import next_event, open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TURN_TIMEOUT = 20.0


async def all_events(manager: Manager) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await manager.read_events(since=events[-1].seq if events else 0, limit=1000)
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
            project = await manager.create_project("Keep", str(env.workdir))
            other = await manager.create_project("Other")
            await manager.rename_project(other.project_id, "Other renamed")
            session = await manager.create_session(title="Kept chat", project_id=project.project_id)
            sid = session.session_id
            await manager.apply_session_controls(
                sid, model="mock-model-b", approval_policy="never", actor="alice"
            )
            await manager.update_session_settings(sid, {"theme": "dark", "n": [1, 2]})
            await manager.apply_session_controls(
                sid, scope="default", approval_policy="on-request", network_access="enabled"
            )
            result = await manager.send_and_wait(
                sid, "remember the word kiwi", timeout=TURN_TIMEOUT
            )
            assert result.final_text == "first answer"
            await manager.upsert_transcript_entry(
                sid,
                {
                    "messageId": "note-1",
                    "turnId": result.turn_id,
                    "role": "system",
                    "type": "note",
                    "content": "an extension's note",
                },
            )
            fresh = await manager.create_session(title="Never used")
            doomed = await manager.create_session(title="Doomed chat")
            await manager.send_and_wait(doomed.session_id, "bye", timeout=TURN_TIMEOUT)
            await manager.delete_session(doomed.session_id)

            before_session = await manager.get_session(sid)
            before_projects = await manager.list_projects()
            before_defaults = await manager.default_controls()
            before_transcript = await manager.get_transcript(sid, limit=None)
            before_turn = await manager.get_turn(result.turn_id)
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

            assert await manager.list_projects() == before_projects
            assert [p.name for p in before_projects] == ["Keep", "Other renamed"]
            record = await manager.get_session(sid)
            assert record == before_session
            assert (record.title, record.project_id) == ("Kept chat", project.project_id)
            assert record.controls.model == "mock-model-b"
            assert record.controls.approval_policy == "never"
            assert record.controls.settings == {"theme": "dark", "n": [1, 2]}
            assert await manager.get_session_settings(sid, key="theme") == {
                "key": "theme",
                "found": True,
                "value": "dark",
            }
            assert await manager.default_controls() == before_defaults
            assert before_defaults.network_access == "enabled"
            assert await manager.get_turn(result.turn_id) == before_turn
            with pytest.raises(Gone) as gone:
                await manager.get_session(doomed.session_id)
            assert gone.value.title == "Doomed chat"
            listed = await manager.list_sessions(archived=None, include_system_owned=True)
            assert sorted(r.session_id for r in listed.items) == sorted([sid, fresh.session_id])

            transcript = await manager.get_transcript(sid, limit=None)
            assert transcript == before_transcript
            types = [row["type"] for row in transcript.entries]
            assert types.count("session.controls.updated") == 3
            assert "note" in types
            assert [row["content"] for row in transcript.entries if row["role"] != "system"] == [
                "remember the word kiwi",
                "first answer",
            ]

            # The old session resumes by itself and takes a turn with its earlier history.
            events = manager.subscribe(thread_ids=[sid], types=["app_server.turn.completed"])
            result = await manager.send_and_wait(sid, "which word?", timeout=TURN_TIMEOUT)
            assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "second answer")
            await next_event(events, lambda e: True, message="the new turn's completion")
            request = model.requests[-1]
            assert request.last_user_text == "which word?"
            assert request.model == "mock-model-b"
            history = str(request.input)
            assert "remember the word kiwi" in history
            assert "first answer" in history
            assert "bye" not in history
            assert (await manager.get_session(sid)).last_turn_id == result.turn_id

            # A session that never got a message survives too (codex keeps its thread).
            assert (await manager.get_session(fresh.session_id)).materialized is False
            assert (await manager.resume_session(fresh.session_id))["id"] == fresh.session_id
            result = await manager.send_and_wait(
                fresh.session_id, "first words", timeout=TURN_TIMEOUT
            )
            assert result.final_text == "fresh answer"
            assert (await manager.get_session(fresh.session_id)).materialized is True
        assert model.errors == []

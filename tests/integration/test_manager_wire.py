"""The embedded Manager agrees with the HTTP host on issue 7's wire fixes (real codex binary,
offline ScriptedModel):

- a message while a turn runs raises TurnInProgress (HTTP 409) naming the turn, and the
  steer it suggests delivers the text;
- project directories are checked where they are given; a project's directory that
  disappeared later is named by the session-create error;
- the thread's model provider is stored with the session and survives a reopen;
- a fork works after its source is deleted, also after a reopen (which reads everything
  from disk), and the source's rollout goes with the last fork.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from codex_manager_core import InvalidInput, InvalidState, TurnInProgress, TurnStatus
from codex_manager_core.events.payloads import session_view
from codex_manager_core.testing import Delay, Reply, ScriptedModel
from tests.integration.manager_fixtures import open_manager, running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TURN_TIMEOUT = 20.0


def rollouts(codex_home: Path, session_id: str) -> list[str]:
    return [
        name
        for folder in ("sessions", "archived_sessions")
        for _, _, names in os.walk(codex_home / folder)
        for name in names
        if session_id in name
    ]


async def test_a_message_while_a_turn_runs_is_refused_not_folded(tmp_path: Path) -> None:
    script = [Delay(1.5, Reply("first")), Reply("with the steer"), Reply("next")]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        sid = (await manager.sessions.create()).session_id
        handle = await manager.turns.send(sid, "one")
        with pytest.raises(TurnInProgress) as caught:
            await manager.turns.send(sid, "two", model="another-model")
        assert (caught.value.code, caught.value.turn_id) == ("invalid_state", handle.turn_id)
        assert isinstance(caught.value, InvalidState)
        assert "steer" in caught.value.message

        await manager.turns.steer(sid, handle.turn_id, "two")
        result = await manager.turns.wait(sid, handle.turn_id, timeout=TURN_TIMEOUT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "with the steer")
        assert env.model.requests[-1].last_user_text == "two"
        assert {request.model for request in env.model.requests} == {"mock-model"}

        later = await manager.turns.send_and_wait(sid, "three", timeout=TURN_TIMEOUT)
        assert (later.status, later.final_text) == (TurnStatus.COMPLETED, "next")


async def test_project_directories_are_checked_where_they_are_given(tmp_path: Path) -> None:
    async with running_manager(tmp_path) as env:
        manager = env.manager
        place = tmp_path / "place"
        place.mkdir()
        for bad in ("relative", str(tmp_path / "missing")):
            with pytest.raises(InvalidInput) as caught:
                await manager.projects.create("P", bad)
            assert caught.value.issues[0]["path"] == ["working_directory"]
        project = await manager.projects.create("P", str(place))
        with pytest.raises(InvalidInput, match="working_directory"):
            await manager.projects.rename(project.project_id, "P", "relative")
        kept = await manager.projects.rename(project.project_id, "P2")
        assert kept.working_directory == str(place)

        shutil.rmtree(place)
        with pytest.raises(InvalidState) as stale:
            await manager.sessions.create(project_id=project.project_id)
        assert str(place) in stale.value.message
        assert stale.value.details == {
            "projectId": project.project_id,
            "workingDirectory": str(place),
        }


async def test_provider_and_forks_of_deleted_sessions_survive_a_reopen(tmp_path: Path) -> None:
    script = [Reply("one"), Reply("two"), Reply("three")]
    async with ScriptedModel(script) as model:
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            source = await manager.sessions.create()
            assert source.model_provider == "scripted"
            await manager.turns.send_and_wait(source.session_id, "kiwi", timeout=TURN_TIMEOUT)
            fork = await manager.sessions.fork(source.session_id)
            assert fork.model_provider == "scripted"
            await manager.sessions.delete(source.session_id)
            assert rollouts(env.codex_home, source.session_id)
            codex_home = env.codex_home

        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            reopened = await manager.sessions.get(fork.session_id)
            assert reopened.model_provider == "scripted"
            assert session_view(reopened)["modelProvider"] == "scripted"
            thread = await manager.sessions.read_thread(fork.session_id)
            assert len(thread["turns"]) == 1
            result = await manager.turns.send_and_wait(
                fork.session_id, "again", timeout=TURN_TIMEOUT
            )
            assert result.final_text == "two"
            assert "kiwi" in str(model.requests[-1].input)

            await manager.sessions.delete(fork.session_id)
            assert rollouts(codex_home, source.session_id) == []
            assert await manager.store.get_meta("retained_rollouts") == "[]"

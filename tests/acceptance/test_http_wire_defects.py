"""Wire defects found by running the original Codex Manager's clients against ours (issue 7,
point 6), on real uvicorn and the real codex binary (offline, ScriptedModel):

- `POST /api/projects/{id}/rename` with only `{"name"}` keeps the working directory (the
  original's behaviour; it answered 400 because two "unset" values were in play);
- project create/rename refuse a relative or missing `workingDirectory`, naming it; a
  session in a project whose directory was removed since gets a 409 naming that directory
  (not a 400 about `cwd`, which the user never sent);
- session summaries report the thread's real `modelProvider` ("scripted" offline, not a
  hard-coded "openai"), in every answer and after a restart;
- a fork keeps working after its source is deleted (the source's rollout stays on disk while
  a fork reads it, and goes with the last fork);
- a settings document over its bound is a 413 naming the limit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from codex_manager_core.testing import Reply
from codex_manager_core.testing.scripted_model import RecordedRequest, Step
from tests.acceptance.http_fixtures import running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def echo(request: RecordedRequest) -> Step:
    return Reply(f"echo: {request.last_user_text}")


async def answer(
    http: httpx.AsyncClient, method: str, path: str, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    with anyio.fail_after(WAIT):
        response = await http.request(method, path, **kwargs)
    assert response.status_code == status, (
        f"{method} {path}: {response.status_code} {response.text[:500]}"
    )
    body: dict[str, Any] = response.json()
    return body


def rollouts(codex_home: Path, session_id: str) -> list[str]:
    return [
        name
        for folder in ("sessions", "archived_sessions")
        for _, _, names in os.walk(codex_home / folder)
        for name in names
        if session_id in name
    ]


async def test_project_working_directories(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    async with running_host(tmp_path, echo) as host:
        http = host.http
        created = await answer(
            http, "POST", "/api/projects", json={"name": "Alpha", "workingDirectory": str(first)}
        )
        pid = created["project"]["projectId"]

        # The original's rename: only a name keeps the directory; null clears it.
        renamed = await answer(http, "POST", f"/api/projects/{pid}/rename", json={"name": "A2"})
        assert renamed["project"]["name"] == "A2"
        assert renamed["project"]["workingDirectory"] == str(first)
        moved = await answer(
            http,
            "POST",
            f"/api/projects/{pid}/rename",
            json={"name": "A2", "workingDirectory": str(second)},
        )
        assert moved["project"]["workingDirectory"] == str(second)

        # Directories that cannot work are refused where they are given, by their name.
        (tmp_path / "file.txt").write_text("not a directory")
        for bad in ("relative/dir", str(tmp_path / "missing"), str(tmp_path / "file.txt")):
            for method, path, body in (
                ("POST", "/api/projects", {"name": "Beta", "workingDirectory": bad}),
                ("POST", f"/api/projects/{pid}/rename", {"name": "A2", "workingDirectory": bad}),
            ):
                refused = await answer(http, method, path, 400, json=body)
                assert refused["issues"][0]["path"] == ["workingDirectory"], refused
                assert "workingDirectory" in refused["message"], refused
        listed = await answer(http, "GET", "/api/projects")
        assert [(p["name"], p["workingDirectory"]) for p in listed["projects"]] == [
            ("A2", str(second))
        ]

        # A session in the project runs there; once the directory is gone, the error says so.
        session = await answer(http, "POST", "/api/sessions", json={"projectId": pid})
        assert session["session"]["cwd"] == str(second)
        shutil.rmtree(second)
        stale = await answer(http, "POST", "/api/sessions", 409, json={"projectId": pid})
        assert stale["code"] == "invalid_state", stale
        assert str(second) in stale["message"], stale
        assert "A2" in stale["message"], stale
        assert stale["details"] == {"projectId": pid, "workingDirectory": str(second)}
        # An explicit cwd still works; clearing the directory makes the default apply.
        explicit = await answer(
            http, "POST", "/api/sessions", json={"projectId": pid, "cwd": str(first)}
        )
        assert explicit["session"]["cwd"] == str(first)
        cleared = await answer(
            http,
            "POST",
            f"/api/projects/{pid}/rename",
            json={"name": "A2", "workingDirectory": None},
        )
        assert cleared["project"]["workingDirectory"] is None
        await answer(http, "POST", "/api/sessions", json={"projectId": pid})


async def test_model_provider_and_forks_of_deleted_sessions(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo) as host:
        http, manager = host.http, host.manager
        created = await answer(http, "POST", "/api/sessions", json={})
        sid = created["session"]["sessionId"]
        assert created["session"]["modelProvider"] == "scripted"
        assert created["thread"]["modelProvider"] == "scripted"
        turn = await answer(http, "POST", f"/api/sessions/{sid}/messages", 202, json={"text": "hi"})
        await manager.turns.wait(sid, turn["turnId"], timeout=WAIT)

        fork = (await answer(http, "POST", f"/api/sessions/{sid}/fork", json={}))["session"]
        fid = fork["sessionId"]
        assert fork["modelProvider"] == "scripted"
        listed = await answer(http, "GET", "/api/sessions", params={"limit": 10})
        assert {s["sessionId"]: s["modelProvider"] for s in listed["sessions"]} == {
            sid: "scripted",
            fid: "scripted",
        }

        # Delete the source: it is gone, the fork keeps its history and works on.
        await answer(http, "DELETE", f"/api/sessions/{sid}")
        assert (await answer(http, "GET", f"/api/sessions/{sid}", 410))["status"] == "deleted"
        assert rollouts(host.root / "codex-home", sid), "the fork still reads this rollout"
        opened = await answer(http, "GET", f"/api/sessions/{fid}")
        assert [row["content"] for row in opened["transcript"] if row["role"] == "user"] == ["hi"]
        turn = await answer(
            http, "POST", f"/api/sessions/{fid}/messages", 202, json={"text": "still here"}
        )
        result = await manager.turns.wait(fid, turn["turnId"], timeout=WAIT)
        assert result.final_text == "echo: still here"
        assert "hi" in str(host.model.requests[-1].input), "the history came along"

        # ... also in a new runtime process, which reads everything from disk.
        await answer(http, "POST", "/api/runtime/restart")
        reopened = await answer(http, "GET", f"/api/sessions/{fid}")
        assert len(reopened["thread"]["turns"]) == 2
        assert reopened["session"]["modelProvider"] == "scripted"

        # Deleting the last fork takes the source's kept rollout with it.
        await answer(http, "DELETE", f"/api/sessions/{fid}")
        assert rollouts(host.root / "codex-home", sid) == []
        assert rollouts(host.root / "codex-home", fid) == []


async def test_settings_over_their_bound_get_413(tmp_path: Path) -> None:
    async with running_host(tmp_path, max_settings_bytes=2048) as host:
        http = host.http
        sid = (await answer(http, "POST", "/api/sessions", json={}))["session"]["sessionId"]
        settings = f"/api/sessions/{sid}/settings"
        await answer(http, "POST", settings, json={"key": "a", "value": "x" * 1000})
        for body in (
            {"key": "b", "value": "y" * 1200},
            {"settings": {"c": "z" * 3000}, "mode": "replace"},
        ):
            refused = await answer(http, "POST", settings, 413, json=body)
            assert refused["code"] == "settings_too_large", refused
            assert "the limit is 2048 bytes" in refused["message"], refused
        too_big = {"scope": "session", "controls": {"settings": {"d": "w" * 3000}}}
        refused = await answer(
            http, "POST", f"/api/sessions/{sid}/session-controls", 413, json=too_big
        )
        assert refused["code"] == "settings_too_large", refused
        assert (await answer(http, "GET", settings))["settings"] == {"a": "x" * 1000}

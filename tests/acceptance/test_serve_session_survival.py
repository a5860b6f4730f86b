"""Acknowledged sessions survive a restart of `codex-manager serve`, also after kill -9
(issue 7, point 2).

Sessions created over HTTP and never used are still there after the server was killed (or
stopped with SIGTERM) and started again on the same data dir, with their title, project,
controls and settings, and they answer `GET /api/sessions/{id}` and take messages. (A crash
of app-server, and the embedded Manager: tests/integration/test_manager_session_survival.py.)
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.acceptance.serve_process import serve_env, serve_process

pytestmark = [pytest.mark.real_runtime, pytest.mark.anyio]

SESSIONS = 12
WAIT = 60.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the test only drives a server process


async def _create(http: httpx.AsyncClient, index: int, project_id: str) -> dict[str, Any]:
    """A session with a different part of the overlay set, depending on `index`; returns
    what the server acknowledged. Nothing reads the session's thread: codex writes a thread
    down (a rollout) when it is read with its turns, which would hide the defect."""
    created = await http.post("/api/sessions", json={})
    assert created.status_code == 200, created.text
    session = created.json()["session"]
    sid = session["sessionId"]
    if index % 3 == 1:
        renamed = await http.post(f"/api/sessions/{sid}/rename", json={"title": f"Chat {index}"})
        assert renamed.status_code == 200, renamed.text
        session["title"] = f"Chat {index}"
    if index % 3 == 2:
        moved = await http.post(f"/api/sessions/{sid}/project", json={"projectId": project_id})
        assert moved.status_code == 200, moved.text
        session["projectId"] = project_id
        controls = await http.post(
            f"/api/sessions/{sid}/session-controls",
            json={"controls": {"approvalPolicy": "never", "networkAccess": "enabled"}},
        )
        assert controls.status_code == 200, controls.text
    settings = await http.post(
        f"/api/sessions/{sid}/settings", json={"key": "note", "value": f"n{index}"}
    )
    assert settings.status_code == 200, settings.text
    return dict(session)


async def _turn_completes(url: str, http: httpx.AsyncClient, sid: str) -> None:
    async with connect(url.replace("http", "ws") + f"/api/stream?threadId={sid}") as ws:
        accepted = await http.post(f"/api/sessions/{sid}/messages", json={"text": "still here?"})
        assert accepted.status_code == 202, accepted.text
        turn_id = accepted.json()["turnId"]
        with anyio.fail_after(WAIT):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "app_server.turn.completed":
                    turn = frame["payload"]["params"]["turn"]
                    assert frame["threadId"] == sid
                    assert (turn["id"], turn["status"]) == (turn_id, "completed")
                    return


def _overlay(session: dict[str, Any]) -> dict[str, Any]:
    return {key: session.get(key) for key in ("sessionId", "title", "projectId", "cwd")}


@pytest.mark.parametrize(
    "stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "graceful restart"]
)
async def test_sessions_survive_a_restart_of_serve(tmp_path: Path, stop: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    env = serve_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    async with serve_process(data_dir, env=env) as server:
        # It holds every transcript and the runtime's credentials: private from the start.
        assert data_dir.stat().st_mode & 0o777 == 0o700
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
            project = await http.post(
                "/api/projects", json={"name": "Kept", "workingDirectory": str(work)}
            )
            assert project.status_code == 200, project.text
            project_id = project.json()["project"]["projectId"]
            created: list[dict[str, Any]] = [{}] * SESSIONS

            async def create(index: int) -> None:
                created[index] = await _create(http, index, project_id)

            async with anyio.create_task_group() as tasks:
                for index in range(SESSIONS):
                    tasks.start_soon(create, index)
            controls = {
                s["sessionId"]: (
                    await http.get(f"/api/sessions/{s['sessionId']}/session-controls")
                ).json()
                for s in created
            }
        server.process.send_signal(stop)
        with anyio.fail_after(WAIT):
            assert await server.process.wait() == (-stop if stop == signal.SIGKILL else 0)

    async with (
        serve_process(data_dir, env=env) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        listed = (await http.get("/api/sessions")).json()["data"]
        assert {s["sessionId"] for s in listed} == {s["sessionId"] for s in created}
        for index, before in enumerate(created):
            sid = before["sessionId"]
            got = await http.get(f"/api/sessions/{sid}")
            assert got.status_code == 200, got.text
            assert _overlay(got.json()["session"]) == _overlay(before)
            now = (await http.get(f"/api/sessions/{sid}/session-controls")).json()
            assert now == controls[sid]
            note = await http.get(f"/api/sessions/{sid}/settings", params={"key": "note"})
            assert note.json()["value"] == f"n{index}", note.text
            await _turn_completes(server.url, http, sid)

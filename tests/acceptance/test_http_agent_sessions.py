"""GET /api/projects/{id}/agent-sessions over real HTTP: each worker session with its agent
(the original's `{agent, sessionId, systemOwned}`), for a project or a `session:<id>` owner."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from codex_manager_core.queue.model import session_owner
from codex_manager_core.testing import Reply
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.acceptance.http_fixtures import running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the HTTP host (uvicorn) runs on asyncio


def echo(request: RecordedRequest) -> Reply:
    return Reply(f"echo: {request.last_user_text}")


async def test_http_agent_sessions_report_the_agent_for_projects_and_chats(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(120):
        async with running_host(tmp_path, echo) as host:
            project = await host.manager.projects.create("Epsilon")
            worker = await host.manager.workers.ensure(project.project_id, "supervisor")
            response = await host.http.get(f"/api/projects/{project.project_id}/agent-sessions")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["projectId"] == project.project_id
            assert [(s["agent"], s["sessionId"], s["systemOwned"]) for s in body["data"]] == [
                ("supervisor", worker.session_id, True)
            ]
            assert body["sessions"] == body["data"]

            chat = await host.manager.sessions.create(title="Chat")
            owner = session_owner(chat.session_id)
            chat_worker = await host.manager.workers.ensure(owner, "default")
            response = await host.http.get(f"/api/projects/{owner}/agent-sessions")
            assert response.status_code == 200, response.text
            assert [(s["agent"], s["sessionId"]) for s in response.json()["data"]] == [
                ("default", chat_worker.session_id)
            ]
            missing = await host.http.get("/api/projects/nope/agent-sessions")
            assert missing.status_code == 404

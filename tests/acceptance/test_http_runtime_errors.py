"""Runtime errors over HTTP (issue 7, points 4 and 5): never a 500.

- what the runtime would fail because of the request's values (a `cwd` that is no
  directory, a NUL byte) is a 400 naming the field, before the runtime is asked;
- codex not logged in is 409 `codex_auth_required` (the original's status for it), never the
  401 `auth_required` + WWW-Authenticate of a missing server token;
- a second message while a turn runs is 409 `invalid_state` naming the running turn and how
  to steer it (the runtime would fold it into that turn silently); the text is not lost:
  steering it reaches the model;
- a message with `outputSchema` during a turn gets the same 409 (codex answered -32603);
- a failed runtime answers 503 saying how to restart it, and `POST /api/runtime/restart`
  does (fake runtime);
- `POST /api/feedback` waits at most `feedback_timeout` (fake runtime that never answers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from codex_manager_core import Manager, ManagerConfig, RuntimeUnavailable, TurnStatus
from codex_manager_core.runtime import RestartPolicy, RuntimeState
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import Delay, FakeAppServer, FakeClock, Reply
from codex_manager_http.app import create_app
from codex_manager_http.serve import running_server
from codex_manager_http.settings import ServerSettings
from tests.acceptance.http_fixtures import running_host

pytestmark = pytest.mark.anyio

WAIT = 30.0


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


async def answer(
    http: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    with anyio.fail_after(WAIT):
        response = await http.request(method, path, **kwargs)
    assert response.status_code == status, (
        f"{method} {path}: {response.status_code} {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.real_runtime
async def test_request_values_the_runtime_cannot_use_get_400(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        exec_ = "/api/commands/exec"
        cases = [
            ({"command": ["ls"], "cwd": str(tmp_path / "missing")}, ["cwd"]),
            ({"command": ["ls"], "cwd": "relative/dir"}, ["cwd"]),
            ({"command": ["ls"], "cwd": str(tmp_path / "work" / "x\u0000y")}, ["cwd"]),
            ({"command": ["echo", "a\u0000b"]}, ["command", 1]),
            ({"command": ["ec\u0000ho"]}, ["command", 0]),
        ]
        for body, path in cases:
            refused = await answer(host.http, "POST", exec_, 400, json=body)
            assert refused["code"] == "invalid_request", refused
            assert refused["issues"][0]["path"] == path, refused
        ran = await answer(
            host.http, "POST", exec_, 200, json={"command": ["pwd"], "cwd": str(tmp_path)}
        )
        assert ran["result"]["stdout"] == f"{tmp_path}\n", ran


@pytest.mark.real_runtime
async def test_codex_not_logged_in_is_not_a_missing_token(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        with anyio.fail_after(WAIT):
            response = await host.http.get("/api/account/rate-limits")
        assert response.status_code == 409, response.text
        assert "www-authenticate" not in response.headers
        body = response.json()
        assert body["code"] == "codex_auth_required", body
        assert "not logged in" in body["message"], body
        assert "authentication required" in body["message"], "the runtime's own words"


@pytest.mark.real_runtime
async def test_a_second_message_while_a_turn_runs_gets_409(tmp_path: Path) -> None:
    script = [Delay(1.5, Reply("first answer")), Reply("answer with the steer")]
    async with running_host(tmp_path, script) as host:
        http = host.http
        sid = (await answer(http, "POST", "/api/sessions", 200, json={}))["session"]["sessionId"]
        messages = f"/api/sessions/{sid}/messages"
        first = await answer(http, "POST", messages, 202, json={"text": "first"})
        turn_id = first["turnId"]

        busy = await answer(http, "POST", messages, 409, json={"text": "second"})
        assert busy["code"] == "invalid_state", busy
        assert busy["details"] == {"activeTurnId": turn_id}, busy
        assert f"/api/sessions/{sid}/turns/{turn_id}/steer" in busy["message"], busy
        schema = {"type": "object", "properties": {"x": {"type": "string"}}}
        also_busy = await answer(
            http, "POST", messages, 409, json={"text": "structured", "outputSchema": schema}
        )
        assert also_busy["details"] == {"activeTurnId": turn_id}, also_busy

        # What the 409 says to do works, and the text reaches the model.
        steer = f"/api/sessions/{sid}/turns/{turn_id}/steer"
        await answer(http, "POST", steer, 200, json={"input": "second"})
        result = await host.manager.turns.wait(sid, turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (
            TurnStatus.COMPLETED,
            "answer with the steer",
        )
        assert host.model.requests[-1].last_user_text == "second"
        assert all(r.last_user_text not in ("structured",) for r in host.model.requests)

        # Once the turn is over, a message starts a new one.
        again = await answer(http, "POST", messages, 202, json={"text": "third"})
        assert again["turnId"] != turn_id


@asynccontextmanager
async def fake_host(
    tmp_path: Path, fake: FakeAppServer, config: ManagerConfig, clock: FakeClock | None = None
) -> AsyncIterator[tuple[Manager, httpx.AsyncClient]]:
    """The HTTP host over the fake app-server (only the app's behaviour is under test)."""
    async with (
        Manager.open(
            store=MemoryStore(), config=config, transport=fake.transport(), clock=clock
        ) as manager,
        running_server(create_app(manager, ServerSettings(data_dir=tmp_path))) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        yield manager, http


async def test_a_failed_runtime_says_how_to_restart_and_the_route_does(tmp_path: Path) -> None:
    clock = FakeClock()  # the automatic retry never comes: only the route restarts it
    fake = FakeAppServer(crash_on="initialize", crash_times=3, state_dir=tmp_path / "state")
    policy = RestartPolicy(max_restarts=2, initial_backoff=0.0, max_backoff=0.0)
    config = ManagerConfig(restart=policy, ready_timeout=WAIT)
    async with fake_host(tmp_path, fake, config, clock) as (manager, http):
        with pytest.raises(RuntimeUnavailable, match="has failed"):
            await manager.runtime.wait_ready(WAIT)  # returns (raising) once it has failed
        assert manager.supervisor.state is RuntimeState.FAILED
        with anyio.fail_after(WAIT):
            response = await http.post("/api/sessions", json={})
        assert response.status_code == 503, response.text
        unavailable = response.json()
        assert unavailable["code"] == "runtime_unavailable", unavailable
        assert "POST /api/runtime/restart" in unavailable["message"], unavailable
        # Not "retry in 1 s": the next automatic attempt is 300 s away (the fake clock).
        assert response.headers["retry-after"] == "300"

        restarted = await answer(http, "POST", "/api/runtime/restart", 200)
        assert (restarted["status"], restarted["state"], restarted["epoch"]) == ("ok", "ready", 4)
        created = await answer(http, "POST", "/api/sessions", 200, json={})
        assert created["session"]["sessionId"]

        # A restart of a ready runtime: a new process, ready when the answer comes.
        again = await answer(http, "POST", "/api/runtime/restart", 200)
        assert (again["state"], again["epoch"]) == ("ready", 5)


async def test_a_restart_that_fails_again_answers_503(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = FakeAppServer(crash_on="initialize")  # crashes forever
    policy = RestartPolicy(
        max_restarts=1, initial_backoff=0.0, max_backoff=0.0, failed_retry_interval=None
    )
    config = ManagerConfig(restart=policy, ready_timeout=WAIT)
    async with fake_host(tmp_path, fake, config, clock) as (manager, http):
        with pytest.raises(RuntimeUnavailable, match="has failed"):
            await manager.runtime.wait_ready(WAIT)  # returns (raising) once it has failed
        with anyio.fail_after(WAIT):
            response = await http.post("/api/sessions", json={})
        assert response.status_code == 503, response.text
        assert "retry-after" not in response.headers, "no automatic retry: only a restart helps"
        failed = await answer(http, "POST", "/api/runtime/restart", 503)
        assert failed["code"] == "runtime_unavailable", failed
        assert "crashing on purpose" in failed["message"], "the reason is quoted"
        assert manager.supervisor.state is RuntimeState.FAILED


async def test_feedback_upload_is_bounded(tmp_path: Path) -> None:
    fake = FakeAppServer(hang_on=("feedback/upload",))
    config = ManagerConfig(feedback_timeout=0.5)
    async with fake_host(tmp_path, fake, config) as (manager, http):
        await manager.runtime.wait_ready(WAIT)
        with anyio.fail_after(5):  # not the 120 s call timeout
            timed_out = await answer(
                http,
                "POST",
                "/api/feedback",
                504,
                json={"classification": "bug", "includeLogs": False},
            )
        assert timed_out["code"] == "codex_timeout", timed_out

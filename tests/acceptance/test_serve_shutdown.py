"""`codex-manager serve` as a user runs it: a real process, stopped by a signal while a turn
is streaming. It must exit 0, leave a consistent store and no runtime process behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from codex_manager_core.ports.store import EventQuery
from codex_manager_core.runtime import process_tree
from codex_manager_core.store.sqlite import SqliteStore
from tests.acceptance.serve_process import serve_env, serve_process

pytestmark = [pytest.mark.real_runtime, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server runs on uvicorn, hence asyncio; this test only drives it


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_while_a_turn_streams_exits_cleanly(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = serve_env(tmp_path, CODEX_MANAGER_DEMO_CHUNK_DELAY="0.4")
    async with serve_process(tmp_path / "data", env=env) as server:
        process, url, lines = server.process, server.url, server.lines
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            # The runtime announces itself ready on the event stream; replaying from
            # seq 0 means the announcement cannot be missed, however early it came.
            stream = url.replace("http", "ws") + "/api/stream?since=0&types=runtime_state_changed"
            async with connect(stream) as events:
                with anyio.fail_after(30):
                    while True:
                        frame = json.loads(await events.recv())
                        if (
                            frame.get("type") == "runtime_state_changed"
                            and frame["payload"]["state"] == "ready"
                        ):
                            break
            health = (await http.get("/api/health")).json()
            assert health["codex"]["state"] == "ready", health["codex"]
            runtime_pid = health["codex"]["pid"]
            assert health["demo"]["enabled"] is True
            session = (await http.post("/api/sessions", json={})).json()["session"]["sessionId"]
            async with connect(url.replace("http", "ws") + "/api/stream") as ws:
                await ws.send(json.dumps({"type": "subscribe", "threadId": session}))
                accepted = await http.post(
                    f"/api/sessions/{session}/messages", json={"text": "tell me a story"}
                )
                assert accepted.status_code == 202, accepted.text
                deltas = 0
                with anyio.fail_after(30):
                    while deltas < 2:  # the answer is streaming (6 pieces, 0.4 s apart)
                        frame: dict[str, Any] = json.loads(await ws.recv())
                        if frame["type"] == "app_server.item.agent_message.delta":
                            deltas += 1
                # The turn is mid-stream: stop the server now.
                process.send_signal(sig)
                with anyio.fail_after(60):
                    returncode = await process.wait()
    assert returncode == 0, "\n".join(lines)
    assert any("shutting down" in line for line in lines), lines
    assert any("codex-manager stopped" in line for line in lines), lines
    # No runtime process survives: neither the app-server nor anything in its group.
    runtime = process_tree.read_process(runtime_pid)
    assert runtime is None or runtime.state == "Z", f"codex app-server {runtime_pid} still runs"
    assert process_tree.group_members(runtime_pid) == [], "processes of the runtime's group remain"
    # The store reopens; the ledger is gap-free and holds the turn's start.
    store = SqliteStore(tmp_path / "data" / "manager.sqlite3")
    await store.open()
    try:
        events = await store.read_events(EventQuery(since=0, limit=100_000))
        seqs = [event.seq for event in events]
        assert seqs == list(range(1, len(seqs) + 1))
        assert seqs[-1] == await store.last_seq()
        types = {event.type for event in events}
        assert {
            "session_created",
            "app_server.turn.started",
            "app_server.item.agent_message.delta",
        } <= types
        assert any(
            event.type == "runtime_state_changed" and event.payload["state"] == "stopped"
            for event in events
        )
        assert await store.get_session(session) is not None
    finally:
        await store.close()

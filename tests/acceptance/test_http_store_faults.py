"""The HTTP host when its disk fills up mid-turn (QuotaVFS under the store: no root needed),
and when codex cannot read its own files.

While the store refuses writes: state-changing requests get 507 naming the data directory,
reads keep working, health says `degraded` (since when, why, how many events are held), and
the running turn's events are held in memory. Past the hold's bound the oldest are dropped.
Once space is back the held events are written and streamed, after a `ledger_events_lost`
marker that says how many were dropped, and the ledger stays gap-free.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from codex_manager_core import Manager
from codex_manager_core.errors import RpcError
from codex_manager_core.store.sqlite import SqliteStore
from codex_manager_core.testing import QuotaVFS
from codex_manager_core.testing.scripted_model import Reply, ScriptedModel, Step
from codex_manager_http.app import create_app
from codex_manager_http.serve import RunningServer, running_server
from codex_manager_http.settings import ServerSettings
from tests.acceptance.http_fixtures import recv_until
from tests.integration.manager_fixtures import manager_config

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0
HELD = 5  # the hold's bound here: a turn's deltas overflow it


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs on asyncio only


@attrs.define
class DiskHost:
    manager: Manager
    server: RunningServer
    http: httpx.AsyncClient
    vfs: QuotaVFS
    data_dir: Path


@asynccontextmanager
async def host_on_small_disk(root: Path, script: list[Step]) -> AsyncIterator[DiskHost]:
    data_dir = root / "data"
    with QuotaVFS() as vfs:
        store = SqliteStore(data_dir / "manager.sqlite3", vfs=vfs.name)
        async with ScriptedModel(script) as model:
            config = manager_config(
                root, model, max_held_events=HELD, store_retry_initial=0.2, store_retry_max=0.5
            )
            async with Manager.open(data_dir, store=store, config=config) as manager:
                await manager.runtime.wait_ready(WAIT)
                app = create_app(manager, ServerSettings(data_dir=data_dir))
                async with (
                    running_server(app) as server,
                    httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
                ):
                    try:
                        yield DiskHost(manager, server, http, vfs, data_dir)
                    finally:
                        vfs.free()


def frames_of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]


async def test_a_full_disk_mid_turn_degrades_visibly_and_loses_nothing_silently(
    tmp_path: Path,
) -> None:
    story = " ".join(f"word{n}" for n in range(400))
    async with host_on_small_disk(tmp_path, [Reply(story, chunks=40, delay=0.05)]) as host:
        http = host.http
        created = await http.post("/api/sessions", json={})
        assert created.status_code == 200, created.text
        session_id = created.json()["session"]["sessionId"]
        async with httpx_ws(host, session_id) as ws:
            accepted = await http.post(
                f"/api/sessions/{session_id}/messages", json={"text": "tell me a story"}
            )
            assert accepted.status_code == 202, accepted.text
            _, before = await recv_until(
                ws,
                lambda f: f["type"] == "app_server.item.agent_message.delta",
                timeout=WAIT,
                message="the first delta",
            )
            # The disk is full from here on, mid-turn.
            host.vfs.fill()
            with anyio.fail_after(WAIT):
                await host.manager.ledger.wait_storage(lambda s: s.lost_events > 0)

            # New writes: 507 naming the data directory, nothing stored.
            refused = await http.post("/api/sessions", json={"title": "not now"})
            assert refused.status_code == 507, refused.text
            body = refused.json()
            assert body["code"] == "store_unavailable"
            assert body["dataDir"] == str(host.data_dir)
            assert str(host.data_dir) in body["message"]
            assert "disk is full" in body["reason"]
            renamed = await http.post(
                f"/api/sessions/{session_id}/rename", json={"title": "renamed"}
            )
            assert renamed.status_code == 507, renamed.text

            # Health says so; reads keep working.
            health = (await http.get("/api/health")).json()
            assert health["status"] == "degraded"
            storage = health["storage"]
            assert storage["writable"] is False
            assert storage["dataDir"] == str(host.data_dir)
            assert storage["failingSince"] is not None
            assert 0 < storage["heldEvents"] <= HELD
            assert storage["lostEvents"] > 0
            assert health["codex"]["state"] == "ready"  # the runtime is fine
            metrics = (await http.get("/api/metrics")).text
            assert "codex_manager_store_writable 0" in metrics
            detail = await http.get(f"/api/sessions/{session_id}")
            assert detail.status_code == 200, detail.text
            assert detail.json()["session"]["title"] != "renamed"
            listing = await http.get("/api/sessions")
            assert listing.status_code == 200, listing.text

            # Space is back: the marker, then what was held, through to the turn's end.
            host.vfs.free()
            _, after = await recv_until(
                ws,
                lambda f: f["type"] == "app_server.turn.completed",
                timeout=WAIT,
                message="the turn's end",
            )
        # One marker per thread that lost events (events of no thread reach this socket
        # too, with their own marker).
        markers = frames_of_type(after, "ledger_events_lost")
        (marker,) = [frame for frame in markers if frame["threadId"] == session_id]
        assert marker["threadId"] == session_id
        lost = marker["payload"]
        assert lost["count"] > 0
        assert lost["firstAt"] <= lost["lastAt"]
        assert "disk is full" in lost["reason"]
        events = [f for f in before + after if f["type"] not in ("notification", "subscribed")]
        seqs = [f["seq"] for f in events]
        assert seqs == sorted(seqs), "seq went back"  # (one event may span frames)
        marker_at = seqs.index(marker["seq"])
        # Only what the marker covers is missing between the last frame before the gap and
        # the marker; everything after it came.
        assert all(f["seq"] > marker["seq"] for f in events[marker_at + 1 :])

        health = (await http.get("/api/health")).json()
        assert health["status"] == "ok"
        assert health["storage"]["writable"] is True
        assert health["storage"]["heldEvents"] == 0
        assert health["storage"]["lostEvents"] == sum(m["payload"]["count"] for m in markers)
        again = await http.post("/api/sessions", json={"title": "now"})
        assert again.status_code == 200, again.text

        # The ledger is gap-free and holds the marker and the turn's end.
        stored = await host.manager.events.read(since=0, limit=1000, thread_ids=[session_id])
        all_seqs = [e.seq for e in await host.manager.events.read(since=0, limit=1000)]
        assert all_seqs == list(range(all_seqs[0], all_seqs[0] + len(all_seqs)))
        types = [event.type for event in stored]
        assert "ledger_events_lost" in types
        assert types.index("ledger_events_lost") < types.index("app_server.turn.completed")
        assert sum(t == "app_server.item.agent_message.delta" for t in types) + lost["count"] >= 40


@asynccontextmanager
async def httpx_ws(host: DiskHost, session_id: str) -> AsyncIterator[Any]:
    from websockets.asyncio.client import connect

    async with connect(host.server.ws_url + "/api/stream", max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "threadId": session_id}))
        await recv_until(ws, lambda f: f["type"] == "subscribed", timeout=WAIT)
        yield ws


async def test_a_session_opens_from_the_ledger_when_codex_cannot_read_its_files(
    tmp_path: Path,
) -> None:
    async with host_on_small_disk(tmp_path, [Reply("the answer", chunks=3)]) as host:
        http = host.http
        session_id = (await http.post("/api/sessions", json={})).json()["session"]["sessionId"]
        async with httpx_ws(host, session_id) as ws:
            turn = await http.post(f"/api/sessions/{session_id}/messages", json={"text": "hi"})
            assert turn.status_code == 202, turn.text
            await recv_until(ws, lambda f: f["type"] == "app_server.turn.completed", timeout=WAIT)
        expected = (await http.get(f"/api/sessions/{session_id}")).json()

        # codex answers thread/read as it does when its own disk is full.
        supervisor = host.manager.supervisor
        original = supervisor.request

        async def failing_read(method: str, params: Any = None, **kwargs: Any) -> Any:
            if method == "thread/read":
                raise RpcError(
                    method,
                    -32603,
                    f"failed to load thread history for thread {session_id}: thread-store "
                    "internal error: No space left on device (os error 28)",
                )
            return await original(method, params, **kwargs)

        supervisor.request = failing_read  # type: ignore[method-assign]
        try:
            detail = await http.get(f"/api/sessions/{session_id}")
        finally:
            supervisor.request = original  # type: ignore[method-assign]
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["thread"]["readFrom"] == "ledger"
        assert "No space left on device" in body["thread"]["runtimeError"]
        rows = [(row["role"], row["content"]) for row in body["transcript"]]
        assert rows == [(row["role"], row["content"]) for row in expected["transcript"]]
        assert ("assistant", "the answer") in rows
        assert ("user", "hi") in rows

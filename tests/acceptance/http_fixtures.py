"""The HTTP host as a user runs it: real uvicorn on an ephemeral port, the real codex
binary behind it (offline, ScriptedModel), real HTTP (httpx) and WebSocket (websockets)
clients.

    async with running_host(tmp_path, script) as host:
        response = await host.http.post("/api/sessions", json={})
        async with host.websocket("/api/stream") as ws: ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
from websockets.asyncio.client import ClientConnection, connect

from codex_manager_core import Manager
from codex_manager_core.testing import ScriptedModel
from codex_manager_core.testing.scripted_model import ScriptFunction, Step
from codex_manager_http.app import create_app
from codex_manager_http.serve import RunningServer, running_server
from codex_manager_http.settings import ServerSettings
from tests.integration.manager_fixtures import manager_config

READY_TIMEOUT = 30.0


@attrs.define
class Host:
    manager: Manager
    model: ScriptedModel
    server: RunningServer
    http: httpx.AsyncClient
    root: Path
    token: str | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @asynccontextmanager
    async def websocket(
        self,
        path: str = "/api/stream",
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[ClientConnection]:
        all_headers = dict(headers or {})
        use = token if token is not None else self.token
        if use is not None and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {use}"
        async with connect(
            self.server.ws_url + path, additional_headers=all_headers, max_size=None
        ) as ws:
            yield ws


async def recv_json(ws: ClientConnection, timeout: float = 20.0) -> dict[str, Any]:
    """The next frame as JSON, within `timeout` seconds (AssertionError otherwise)."""
    try:
        with anyio.fail_after(timeout):
            raw = await ws.recv()
    except TimeoutError:
        raise AssertionError(f"no WebSocket frame within {timeout:g} s") from None
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def recv_until(
    ws: ClientConnection, predicate: Any, *, timeout: float = 20.0, message: str = "a frame"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames until one satisfies `predicate`: (that frame, every frame received)."""
    frames: list[dict[str, Any]] = []
    try:
        with anyio.fail_after(timeout):
            while True:
                frame = json.loads(await ws.recv())
                frames.append(frame)
                if predicate(frame):
                    return frame, frames
    except TimeoutError:
        raise AssertionError(
            f"no {message} within {timeout:g} s; got {[f.get('type') for f in frames][-30:]}"
        ) from None


@asynccontextmanager
async def running_host(
    root: Path,
    script: Iterable[Step] | ScriptFunction = (),
    *,
    token: str | None = None,
    settings: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[Host]:
    """ScriptedModel + Manager (real codex) + uvicorn on 127.0.0.1:<ephemeral>."""
    server_settings = ServerSettings(token=token, data_dir=root / "data", **(settings or {}))
    async with ScriptedModel(script) as model:
        cfg = manager_config(root, model, **config)
        async with Manager.open(root / "data", config=cfg) as manager:
            await manager.runtime.wait_ready(READY_TIMEOUT)
            app = create_app(manager, server_settings)
            async with running_server(app) as server:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with httpx.AsyncClient(
                    base_url=server.url, headers=headers, timeout=30.0
                ) as http:
                    yield Host(manager, model, server, http, root, token)

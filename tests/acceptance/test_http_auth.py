"""Acceptance 5: bearer-token auth, on real uvicorn + the real codex binary.

With a token configured, EVERY route of the contract (tests/acceptance/routes.tsv) answers
401 without it, with a wrong one, or with another scheme, before any handler runs (nothing
is written); the WebSocket handshake is refused with 401 without it and works with the
header or with `?token=`. With the token the routes work. `codex-manager serve --host
0.0.0.0` without a token refuses to start, says why and what to do, and exits non-zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.acceptance.contract_routes import contract_routes, http_routes
from tests.acceptance.http_fixtures import Host, recv_json, running_host

TOKEN = "x" * 20
WS_TIMEOUT = 20.0


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def assert_refused(response: httpx.Response, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["status"] == "error", f"{what}: {body}"
    assert body["code"] == "auth_required", f"{what}: {body}"
    assert "Bearer" in body["message"], f"{what}: {body}"
    assert response.headers.get("www-authenticate", "").startswith("Bearer"), what


async def request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    with anyio.fail_after(30):
        return await client.request(method, url, **kwargs)


async def last_seq(host: Host) -> int:
    response = await host.http.get("/api/events", params={"limit": 1})
    assert response.status_code == 200, response.text
    seq: int = response.json()["lastSeq"]
    return seq


@pytest.mark.real_runtime
@pytest.mark.anyio
async def test_every_route_requires_the_token(tmp_path: Path) -> None:
    async with running_host(tmp_path, token=TOKEN) as host:
        projects_before = (await host.http.get("/api/projects")).json()
        seq_before = await last_seq(host)
        refusals = []
        credentials: list[tuple[str, dict[str, str]]] = [
            ("no token", {}),
            ("a wrong token", {"Authorization": "Bearer " + "y" * 20}),
            ("a token prefix", {"Authorization": "Bearer " + TOKEN[:-1]}),
            ("another scheme", {"Authorization": f"Basic {TOKEN}"}),
        ]
        async with httpx.AsyncClient(base_url=host.url, timeout=30.0) as anonymous:
            for route in http_routes():
                kwargs: dict[str, Any] = {"json": {}} if route.method != "GET" else {}
                for label, headers in credentials:
                    response = await request(
                        anonymous, route.method, route.url(), headers=headers, **kwargs
                    )
                    if response.status_code != 401:
                        refusals.append(
                            f"{route.method} {route.path} with {label}: {response.status_code}"
                        )
                    else:
                        assert_refused(response, f"{route.method} {route.path} with {label}")
            # The query parameter is for WebSockets only.
            assert_refused(
                await request(anonymous, "GET", "/api/health", params={"token": TOKEN}),
                "GET /api/health?token=",
            )
        assert not refusals, "routes that did not answer 401:\n" + "\n".join(refusals)

        # Nothing the refused requests asked for happened.
        assert await last_seq(host) == seq_before
        assert (await host.http.get("/api/projects")).json() == projects_before

        # With the token, the routes work.
        for path in (
            "/api",
            "/api/health",
            "/api/openapi.json",
            "/api/metrics",
            "/api/projects",
            "/api/models",
            "/api/sessions",
        ):
            response = await request(host.http, "GET", path)
            assert response.status_code == 200, (
                f"GET {path}: {response.status_code} {response.text[:300]}"
            )
        health = (await host.http.get("/api/health")).json()
        assert health["status"] == "ok"
        assert health["auth"]["serverTokenRequired"] is True
        created = await request(host.http, "POST", "/api/projects", json={"name": "Authorized"})
        assert created.status_code == 200, created.text
        assert created.json()["project"]["name"] == "Authorized"
        # A lower-case scheme is accepted too (RFC 7235: schemes are case-insensitive).
        async with httpx.AsyncClient(base_url=host.url, timeout=30.0) as other:
            response = await request(
                other, "GET", "/api/health", headers={"Authorization": f"bearer {TOKEN}"}
            )
            assert response.status_code == 200, response.text


async def assert_ws_refused(url: str, headers: dict[str, str] | None = None) -> None:
    with pytest.raises(InvalidStatus) as raised, anyio.fail_after(WS_TIMEOUT):
        async with connect(url, additional_headers=headers or {}, open_timeout=WS_TIMEOUT):
            pass
    response = raised.value.response
    assert response.status_code == 401, f"{url}: {response.status_code}"
    body = json.loads(response.body or b"{}")
    assert body.get("code") == "auth_required", body


async def assert_ws_ready(url: str, headers: dict[str, str] | None = None) -> None:
    with anyio.fail_after(WS_TIMEOUT):
        async with connect(url, additional_headers=headers or {}, open_timeout=WS_TIMEOUT) as ws:
            frame = await recv_json(ws, timeout=WS_TIMEOUT)
            assert frame["type"] == "ready", frame


@pytest.mark.real_runtime
@pytest.mark.anyio
async def test_websocket_requires_the_token(tmp_path: Path) -> None:
    [stream] = [route for route in contract_routes() if route.kind == "websocket"]
    async with running_host(tmp_path, token=TOKEN) as host:
        url = host.server.ws_url + stream.path
        await assert_ws_refused(url)
        await assert_ws_refused(url, {"Authorization": "Bearer " + "y" * 20})
        await assert_ws_refused(url + "?token=" + "y" * 20)
        await assert_ws_refused(url + "?token=")
        await assert_ws_ready(url, {"Authorization": f"Bearer {TOKEN}"})
        await assert_ws_ready(url + "?token=" + TOKEN)
        await assert_ws_ready(url + "?threadId=&token=" + TOKEN)
        # The server is still fine after the refusals.
        assert (await host.http.get("/api/health")).status_code == 200


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("codex-manager")
    assert script.exists(), f"the console script is not installed at {script}"
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CODEX_MANAGER_")}
    result = subprocess.run(
        [str(script), "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert "0.0.0.0" in said, said  # names the problem ...
    assert "not a loopback address" in said, said
    assert "no token" in said, said
    assert "--token" in said, said  # ... and the fix
    assert "127.0.0.1" in said, said
    assert "Traceback" not in said, said
    assert not data_dir.exists(), "it created state before refusing"

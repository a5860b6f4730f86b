"""Issue 7.1: a web page open in the user's browser cannot drive a default server (loopback,
no token). On real uvicorn + the real codex binary.

- Cross-site "simple" requests (a `text/plain` body, a foreign `Origin`) to
  /api/commands/exec, /api/config/value and /api/account/login/start are refused, and
  nothing runs, no config key is written, no login starts.
- DNS rebinding: `Host: evil.example` is refused on every path, the WebSocket included.
- A cross-origin WebSocket handshake is refused.
- Clients that send no Origin (httpx here, like the original's Python client and CLI) and
  same-origin browser requests work; the allow-lists work.
- The server token, which a browser can pass to the WebSocket only as `?token=`, never
  reaches the log in clear.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from codex_manager_core.testing import write_offline_config
from tests.acceptance.http_fixtures import Host, recv_json, running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

EVIL = "http://evil.example"
TIMEOUT = 30.0
TOKEN = "t0ken-" + "z" * 20


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


async def post(host: Host, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    with anyio.fail_after(TIMEOUT):
        return await host.http.post(path, content=json.dumps(body).encode(), headers=headers)


def assert_refused(response: httpx.Response, status: int, code: str, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["status"] == "error", f"{what}: {body}"
    assert body["code"] == code, f"{what}: {body}"
    assert body["message"], f"{what}: {body}"


async def last_seq(host: Host) -> int:
    response = await host.http.get("/api/events", params={"limit": 1})
    assert response.status_code == 200, response.text
    seq: int = response.json()["lastSeq"]
    return seq


async def test_cross_site_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    codex_home = tmp_path / "codex-home"
    # Commands may write to their working directory, so that one that runs leaves a mark.
    # (No turn runs here: the model's address is never used.)
    write_offline_config(
        codex_home, base_url="http://127.0.0.1:9/v1", sandbox_mode="workspace-write"
    )
    async with running_host(tmp_path) as host:
        marker = tmp_path / "work" / "executed"
        attacks: dict[str, dict[str, Any]] = {
            "/api/commands/exec": {
                "command": ["sh", "-c", f"echo pwned > {marker}"],
                "cwd": str(tmp_path / "work"),
            },
            "/api/config/value": {
                "keyPath": "sandbox_mode",
                "mergeStrategy": "replace",
                "value": "danger-full-access",
            },
            "/api/account/login/start": {"type": "apiKey", "apiKey": "sk-" + "e" * 40},
        }
        config_before = (codex_home / "config.toml").read_bytes()
        seq_before = await last_seq(host)
        variants: list[tuple[str, dict[str, str], int, str]] = [
            ("a form-like text/plain body from a foreign page", {"Origin": EVIL, "Content-Type": "text/plain"}, 403, "origin_not_allowed"),
            ("JSON from a foreign page", {"Origin": EVIL, "Content-Type": "application/json"}, 403, "origin_not_allowed"),
            ("a sandboxed page (Origin: null)", {"Origin": "null", "Content-Type": "text/plain"}, 403, "origin_not_allowed"),
            ("another port of this host", {"Origin": "http://127.0.0.1:1", "Content-Type": "application/json"}, 403, "origin_not_allowed"),
            ("text/plain without an Origin", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
            ("a form body", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
            ("no content type", {}, 415, "unsupported_media_type"),
        ]  # fmt: skip
        for path, body in attacks.items():
            for label, headers, status, code in variants:
                response = await post(host, path, body, headers)
                assert_refused(response, status, code, f"{path} with {label}")
        # Refused before routing: an unknown path and a body-less DELETE too.
        assert_refused(
            await post(host, "/api/no-such-route", {}, {"Origin": EVIL}),
            403,
            "origin_not_allowed",
            "unknown path",
        )
        with anyio.fail_after(TIMEOUT):
            response = await host.http.delete("/api/projects/x", headers={"Origin": EVIL})
        assert_refused(response, 403, "origin_not_allowed", "DELETE")
        message = (await post(host, "/api/config/value", {}, {"Origin": EVIL})).json()["message"]
        assert "--allow-origin" in message, message
        assert EVIL in message, message
        message = (await post(host, "/api/config/value", {}, {})).json()["message"]
        assert "application/json" in message, message

        # Nothing happened: no command ran, no config key, no login, no event.
        assert not marker.exists(), "a refused request ran its command"
        assert (codex_home / "config.toml").read_bytes() == config_before
        assert not (codex_home / "auth.json").exists(), "a refused request logged in"
        account = (await host.http.get("/api/account")).json()
        assert account["account"] is None, account
        assert await last_seq(host) == seq_before

        # The same requests from a client that sends no Origin, or from a page of this very
        # server (same origin), are served: the command runs (what the refusals prevented).
        command = {**attacks["/api/commands/exec"], "timeoutMs": 20_000}
        for headers in ({}, {"Origin": host.url}):
            ran = await post(
                host, "/api/commands/exec", command, {"Content-Type": "application/json", **headers}
            )
            assert ran.status_code == 200, ran.text
            assert ran.json()["result"]["exitCode"] == 0, ran.text
            assert marker.read_text() == "pwned\n"
            marker.unlink()
        created = await post(
            host,
            "/api/projects",
            {"name": "From the page"},
            {"Origin": host.url, "Content-Type": "application/json; charset=utf-8"},
        )
        assert created.status_code == 200, created.text


async def raw_handshake(host: Host, headers: dict[str, str]) -> bytes:
    """A WebSocket handshake written by hand (the client libraries set Host themselves):
    the server's status line."""
    lines = [
        "GET /api/stream HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with anyio.fail_after(TIMEOUT):
        async with await anyio.connect_tcp("127.0.0.1", host.server.port) as stream:
            await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = b""
            while b"\r\n" not in answer:
                answer += await stream.receive()
    return answer.split(b"\r\n", 1)[0]


async def test_foreign_host_names_are_refused(tmp_path: Path) -> None:
    """DNS rebinding: the page's own name, re-resolved to 127.0.0.1, is the Host."""
    async with running_host(tmp_path) as host:
        created = await host.http.post("/api/sessions", json={"title": "secret"})
        assert created.status_code == 200, created.text
        port = host.server.port
        for name in ("evil.example", f"evil.example:{port}", f"localhost.evil.example:{port}",
                     f"127.0.0.1.nip.io:{port}", f"0.0.0.0:{port}"):  # fmt: skip
            for path in ("/api/sessions", "/api/health", "/api/nope"):
                with anyio.fail_after(TIMEOUT):
                    response = await host.http.get(path, headers={"Host": name})
                assert_refused(response, 403, "host_not_allowed", f"GET {path} as {name}")
                assert "secret" not in response.text
                assert "--allow-host" in response.json()["message"]
            status = await raw_handshake(host, {"Host": name})
            assert status.startswith(b"HTTP/1.1 403"), (name, status)
        for name in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST",
                     "127.0.0.2"):  # fmt: skip
            with anyio.fail_after(TIMEOUT):
                response = await host.http.get("/api/sessions", headers={"Host": name})
            assert response.status_code == 200, (name, response.text)
            assert "secret" in response.text
        status = await raw_handshake(host, {"Host": f"localhost:{port}"})
        assert status.startswith(b"HTTP/1.1 101"), status


async def assert_ws_refused(url: str, origin: str, code: str = "origin_not_allowed") -> None:
    with pytest.raises(InvalidStatus) as raised, anyio.fail_after(TIMEOUT):
        async with connect(url, origin=origin, open_timeout=TIMEOUT):  # type: ignore[arg-type]
            pass
    response = raised.value.response
    assert response.status_code == 403, f"{url} from {origin}: {response.status_code}"
    assert json.loads(response.body or b"{}").get("code") == code, response.body


async def assert_ws_ready(url: str, origin: str | None = None) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(url, origin=origin, open_timeout=TIMEOUT) as ws:  # type: ignore[arg-type]
            frame = await recv_json(ws, timeout=TIMEOUT)
            assert frame["type"] == "ready", frame


async def test_cross_origin_websocket_is_refused(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        url = host.server.ws_url + "/api/stream"
        await assert_ws_refused(url, EVIL)
        await assert_ws_refused(url + "?since=0", "null")
        # localhost and 127.0.0.1 are different origins for a browser.
        await assert_ws_refused(url, host.url.replace("127.0.0.1", "localhost"))
        await assert_ws_ready(url)  # no Origin: not a browser
        await assert_ws_ready(url, host.url)  # a page of this server
        assert (await host.http.get("/api/health")).status_code == 200


async def test_allow_lists(tmp_path: Path) -> None:
    settings = {
        "allowed_hosts": ("devbox.local",),
        "allowed_origins": ("http://localhost:5173",),
    }
    async with running_host(tmp_path, settings=settings) as host:
        port = host.server.port
        with anyio.fail_after(TIMEOUT):
            allowed = await host.http.get("/api/sessions", headers={"Host": f"devbox.local:{port}"})
            other = await host.http.get("/api/sessions", headers={"Host": f"other.local:{port}"})
        assert allowed.status_code == 200, allowed.text
        assert_refused(other, 403, "host_not_allowed", "a name not in the list")
        json_headers = {"Content-Type": "application/json"}
        created = await post(
            host,
            "/api/projects",
            {"name": "Dev UI"},
            {"Origin": "http://localhost:5173", **json_headers},
        )
        assert created.status_code == 200, created.text
        assert_refused(
            await post(host, "/api/projects", {"name": "x"}, {"Origin": "http://localhost:5174", **json_headers}),
            403,
            "origin_not_allowed",
            "an origin not in the list",
        )  # fmt: skip
        url = host.server.ws_url + "/api/stream"
        await assert_ws_ready(url, "http://localhost:5173")
        await assert_ws_refused(url, "http://localhost:5174")


async def test_the_websocket_token_is_redacted_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_host(tmp_path, token=TOKEN) as host:
        # uvicorn sets its loggers' levels when it starts: raise them afterwards.
        caplog.set_level(logging.INFO, logger="uvicorn.error")
        url = host.server.ws_url + "/api/stream?since=0&token=" + TOKEN
        await assert_ws_ready(url)
        with pytest.raises(InvalidStatus), anyio.fail_after(TIMEOUT):
            async with connect(url.replace(TOKEN, "w" * 20), open_timeout=TIMEOUT):
                pass
    lines = [record.getMessage() for record in caplog.records]
    websocket_lines = [line for line in lines if "WebSocket" in line]
    assert any("/api/stream?since=0&token=***" in line for line in websocket_lines), lines
    assert not [line for line in lines if TOKEN in line or "w" * 20 in line], lines

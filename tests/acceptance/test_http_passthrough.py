"""The discovery, config and account routes against the REAL codex binary (offline).

Each route proxies one app-server method and answers like the original: reads the runtime's
result plus `status: "ok"`, writes `{status: "ok", result}`; the runtime's refusals map to
the original's codes (409 stale `expectedVersion`, 409 not logged in, 501 missing method).
`POST /api/feedback` and `POST /api/account/login/start` are not called: they would reach
OpenAI's servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.acceptance.http_fixtures import Host, running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


async def call(
    host: Host, method: str, path: str, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    with anyio.fail_after(30):
        response = await host.http.request(method, path, **kwargs)
    assert response.status_code == status, (
        f"{method} {path}: {response.status_code} {response.text[:400]}"
    )
    body: dict[str, Any] = response.json()
    if status == 200:
        assert body["status"] == "ok", body
    return body


async def test_discovery_routes(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        models = await call(host, "GET", "/api/models", params={"limit": 2})
        assert isinstance(models["data"], list), models
        assert 1 <= len(models["data"]) <= 2, models
        assert {"id", "model"} <= models["data"][0].keys()
        assert "nextCursor" in models
        if models["nextCursor"]:
            following = await call(
                host, "GET", "/api/models", params={"cursor": models["nextCursor"]}
            )
            assert following["data"][0]["id"] != models["data"][0]["id"]

        features = await call(host, "GET", "/api/features/experimental", params={"limit": 3})
        assert all("name" in feature for feature in features["data"]), features
        modes = await call(host, "GET", "/api/collaboration/modes")
        assert {mode["mode"] for mode in modes["data"]} >= {"plan", "default"}, modes
        assert modes["nextCursor"] is None
        apps = await call(host, "GET", "/api/apps", params={"forceRefetch": "false"})
        assert apps["data"] == [], apps  # apps are off offline
        assert apps["nextCursor"] is None, apps

        skills = await call(
            host, "GET", "/api/skills", params={"cwd": str(tmp_path), "forceReload": "true"}
        )
        assert [entry["cwd"] for entry in skills["data"]] == [str(tmp_path)], skills
        written = await call(
            host,
            "POST",
            "/api/skills/config",
            json={"path": str(tmp_path / "SKILL.md"), "enabled": False},
        )
        assert written["result"] == {"effectiveEnabled": False}, written

        servers = await call(host, "GET", "/api/mcp/servers")
        assert servers["data"] == [], servers
        reloaded = await call(host, "POST", "/api/mcp/reload")
        assert reloaded["result"] == {}, reloaded
        # No such MCP server: the runtime refuses (-32600), as in the original: 409.
        refused = await call(
            host, "POST", "/api/mcp/servers/nope/oauth/login", 409, json={"scopes": ["read"]}
        )
        assert refused["code"] == "invalid_state", refused
        assert "nope" in refused["message"], refused
        assert refused["serverName"] == "nope"

        for method, body in (("GET", None), ("POST", {"hazelnutId": "h", "isPreload": True})):
            missing = await call(host, method, "/api/skills/remote", 501, json=body)
            assert missing["code"] == "method_not_supported", missing


async def test_config_routes(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        config = await call(host, "GET", "/api/config")
        assert config["config"]["model"] == "mock-model", config
        assert "layers" not in config or config["layers"] is None
        layered = await call(
            host, "GET", "/api/config", params={"includeLayers": "true", "cwd": str(tmp_path)}
        )
        assert isinstance(layered["layers"], list), layered
        assert layered["layers"], layered
        requirements = await call(host, "GET", "/api/config/requirements")
        assert "requirements" in requirements, requirements

        edit = {"keyPath": "model_verbosity", "mergeStrategy": "replace", "value": "low"}
        first = await call(host, "POST", "/api/config/value", json=edit)
        version = first["result"]["version"]
        assert first["result"]["status"] == "ok", first
        assert version, first
        # An optimistic write against the current version works; a stale one is refused.
        second = await call(
            host,
            "POST",
            "/api/config/batch",
            json={"edits": [{**edit, "value": "high"}], "expectedVersion": version},
        )
        assert second["result"]["version"] != version
        stale = await call(
            host, "POST", "/api/config/value", 409, json={**edit, "expectedVersion": version}
        )
        assert stale["code"] == "invalid_state", stale
        assert (await call(host, "GET", "/api/config"))["config"]["model_verbosity"] == "high"

        ran = await call(
            host,
            "POST",
            "/api/commands/exec",
            json={"command": ["echo", "hi"], "timeoutMs": 10_000},
        )
        assert ran["result"] == {"exitCode": 0, "stdout": "hi\n", "stderr": ""}, ran


async def test_account_routes(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        account = await call(host, "GET", "/api/account")
        assert account["account"] is None, account
        assert "requiresOpenaiAuth" in account, account
        limits = await call(host, "GET", "/api/account/rate-limits", 409)
        assert limits["code"] == "codex_auth_required", limits
        refused = await call(
            host, "POST", "/api/account/login/cancel", 409, json={"loginId": "nope"}
        )
        assert "nope" in refused["message"], refused
        logged_out = await call(host, "POST", "/api/account/logout")
        assert logged_out["result"] == {}, logged_out

"""The extension lifecycle routes over HTTP (real uvicorn; FakeAppServer behind the Manager:
only the routes are under test): the inventory's shape, reload (success, failure keeping
the previous snapshot, reload_in_progress), the RBAC matrix (mode x role x route) and the
audit rows of success, failure and denial. Test extensions are folders under tmp_path."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import jwt
import pytest

from codex_manager_core import Manager
from codex_manager_core.config import ManagerConfig
from codex_manager_core.runtime.stdio import StdioTransport
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeAppServer
from codex_manager_http.app import create_app
from codex_manager_http.serve import running_server
from codex_manager_http.settings import ServerSettings, SettingsError, env_defaults

pytestmark = pytest.mark.anyio

LIST = "/api/agents/extensions"
RELOAD = "/api/agents/extensions/reload"
HEADER_SECRET = "header-shared-secret-0123456789"
JWT_SECRET = "jwt-hmac-secret-0123456789-abcdefghij"
WAIT = 20.0

CODE = """
def register(registry):
    registry.on("turn.completed", handle)

async def handle(event, tools):
    return None
"""
MODULE_FIELDS = {
    "moduleName",
    "name",
    "version",
    "agentId",
    "displayName",
    "manifestPath",
    "entrypointPath",
    "events",
    "origin",
    "compatibility",
    "capabilities",
    "trust",
    "diagnostics",
}


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def write_extension(parent: Path, name: str, *, code: str = CODE, prelude: str = "") -> Path:
    root = parent / name
    root.mkdir(parents=True, exist_ok=True)
    (root / "extension.toml").write_text(
        f'name = "{name}"\nversion = "1.2.3"\n'
        '[capabilities]\nevents = ["turn.completed"]\nactions = []\n',
        encoding="utf-8",
    )
    (root / "extension.py").write_text(textwrap.dedent(prelude) + code, encoding="utf-8")
    return root


@attrs.define
class Served:
    manager: Manager
    http: httpx.AsyncClient
    app: Any
    extensions: Path


@asynccontextmanager
async def serving(tmp_path: Path, **settings: Any) -> AsyncIterator[Served]:
    roots = tmp_path / "extensions"
    roots.mkdir(exist_ok=True)
    config = ManagerConfig(
        extension_roots=(roots,),
        extensions_repo_root=None,
        extension_entry_points=False,
        extension_roots_from_env=False,
    )
    transport = StdioTransport(FakeAppServer().command())
    async with Manager.open(store=MemoryStore(), transport=transport, config=config) as manager:
        app = create_app(manager, ServerSettings(**settings))
        async with (
            running_server(app) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30.0) as http,
        ):
            yield Served(manager, http, app, roots)


def token(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, secret, algorithm="HS256")


async def newest_audit(manager: Manager) -> Any:
    records = await manager.extensions.audit(limit=1)
    assert records, "no audit record"
    return records[0]


# ---------------------------------------------------------------- inventory and reload


async def test_inventory_has_the_originals_fields_and_the_skipped(tmp_path: Path) -> None:
    write_extension(tmp_path / "extensions", "good_ext")
    broken = tmp_path / "extensions" / "broken_ext"
    broken.mkdir(parents=True)
    (broken / "extension.toml").write_text("name = [not toml", encoding="utf-8")
    async with serving(tmp_path) as served:
        response = await served.http.get(LIST, headers={"User-Agent": "tests"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["snapshotVersion"]
    assert datetime.fromisoformat(body["loadedAt"].replace("Z", "+00:00")).tzinfo is not None
    [module] = body["modules"]
    assert set(module) == MODULE_FIELDS
    assert module["moduleName"] == module["name"] == "good_ext"
    assert module["version"] == "1.2.3"
    assert module["events"] == ["turn.completed"]
    assert module["origin"]["type"] == "configured_root"
    assert module["entrypointPath"].endswith("extension.py")
    assert module["manifestPath"].endswith("extension.toml")
    assert module["capabilities"] == {"events": ["turn.completed"], "actions": []}
    assert module["trust"]["status"] == "accepted"
    assert module["trust"]["mode"] == "enforced"
    compatibility = module["compatibility"]
    assert compatibility["compatible"] is True
    assert compatibility["reasons"] == []
    assert compatibility["profileId"] == "codex-manager"
    assert set(compatibility) == {
        "apiVersion",
        "apiVersionRange",
        "runtimeVersion",
        "profileId",
        "profileVersion",
        "compatible",
        "reasons",
    }
    [skipped] = body["skipped"]
    assert skipped["name"].endswith("broken_ext")
    assert skipped["code"] == "invalid_manifest"


async def test_reload_swaps_the_snapshot_and_is_audited(tmp_path: Path) -> None:
    write_extension(tmp_path / "extensions", "first_ext")
    async with serving(tmp_path) as served:
        before = (await served.http.get(LIST)).json()["snapshotVersion"]
        write_extension(served.extensions, "second_ext")
        response = await served.http.post(RELOAD, json={}, headers={"User-Agent": "e4-tests"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok"
        assert body["loadedCount"] == 2
        assert body["failedCount"] == 0
        assert body["snapshotVersion"] != before
        assert sorted(m["name"] for m in body["modules"]) == ["first_ext", "second_ext"]
        first = next(m for m in body["modules"] if m["name"] == "first_ext")
        assert first == {
            "name": "first_ext",
            "version": "1.2.3",
            "agentId": "first_ext",
            "events": ["turn.completed"],
        }
        listed = (await served.http.get(LIST)).json()
        assert listed["snapshotVersion"] == body["snapshotVersion"]
        record = await newest_audit(served.manager)
    assert record.reload_id == body["reloadId"]
    assert record.result == "success"
    assert (record.actor_id, record.actor_role) == ("local-disabled-rbac", "admin")
    assert record.request_origin == {"ip": "127.0.0.1", "userAgent": "e4-tests"}
    assert record.snapshot_before == before
    assert record.snapshot_after == body["snapshotVersion"]


async def test_a_failed_reload_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    write_extension(tmp_path / "extensions", "stable_ext")
    async with serving(tmp_path) as served:
        before = (await served.http.get(LIST)).json()
        write_extension(served.extensions, "raising_ext", code="raise RuntimeError('boom')\n")
        response = await served.http.post(RELOAD)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["status"] == "error"
        assert body["code"] == "reload_failed"
        assert body["snapshotVersion"] == before["snapshotVersion"]
        [error] = body["errors"]
        assert error["code"] == "import_failed"
        assert "raising_ext" in error["extension"]
        assert "boom" in error["message"]
        after = (await served.http.get(LIST)).json()
        record = await newest_audit(served.manager)
    assert after["snapshotVersion"] == before["snapshotVersion"]
    assert [m["name"] for m in after["modules"]] == ["stable_ext"]
    assert record.reload_id == body["reloadId"]
    assert record.result == "failed"
    assert record.snapshot_after == before["snapshotVersion"]
    assert "boom" in (record.error_summary or "")


async def test_a_reload_during_a_reload_is_409(tmp_path: Path) -> None:
    gate = types.SimpleNamespace(entered=threading.Event(), release=threading.Event())
    gate.release.set()  # the first load passes
    sys.modules["e4_reload_gate"] = gate  # type: ignore[assignment]
    prelude = """
        import e4_reload_gate as gate
        gate.entered.set()
        gate.release.wait(20)
    """
    write_extension(tmp_path / "extensions", "slow_ext", prelude=prelude)
    try:
        async with serving(tmp_path) as served:
            gate.entered.clear()
            gate.release.clear()
            first: dict[str, httpx.Response] = {}

            async def reload_first() -> None:
                first["response"] = await served.http.post(RELOAD)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(reload_first)
                assert await anyio.to_thread.run_sync(gate.entered.wait, WAIT)
                second = await served.http.post(RELOAD)
                gate.release.set()
            assert second.status_code == 409, second.text
            assert second.json()["code"] == "reload_in_progress"
            records = await served.manager.extensions.audit(limit=2)
            assert [r.result for r in records] == ["success", "failed"]
            assert records[1].reload_id == second.json()["reloadId"]
            assert records[1].error_summary == "reload_in_progress: another reload is running"
            assert first["response"].status_code == 200, first["response"].text
    finally:
        gate.release.set()
        sys.modules.pop("e4_reload_gate", None)


# ---------------------------------------------------------------- RBAC


async def test_disabled_mode_refuses_remote_callers_and_audits_it(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        transport = httpx.ASGITransport(app=served.app, client=("203.0.113.10", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as remote:
            listed = await remote.get(LIST)
            reloaded = await remote.post(RELOAD, headers={"User-Agent": "remote"})
        record = await newest_audit(served.manager)
    for response in (listed, reloaded):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "rbac_disabled_remote_forbidden"
    assert record.result == "forbidden"
    assert record.error_summary == "rbac_disabled_remote_forbidden"
    assert record.request_origin == {"ip": "203.0.113.10", "userAgent": "remote"}


HEADER_CASES = [
    # (headers, list status, list code, reload status, reload code)
    ({"x-codex-role": "member"}, 200, None, 403, "insufficient_role"),
    ({"x-codex-role": "admin"}, 200, None, 200, None),
    ({"x-codex-role": "owner"}, 200, None, 200, None),
    ({"x-codex-role": "system"}, 200, None, 200, None),
    ({"x-codex-role": "root"}, 400, "invalid_role", 400, "invalid_role"),
    ({}, 401, "missing_role", 401, "missing_role"),
]


async def test_header_mode_matrix(tmp_path: Path) -> None:
    settings = {"extension_rbac": "header", "extension_rbac_header_secret": HEADER_SECRET}
    async with serving(tmp_path, **settings) as served:
        for extra, list_status, list_code, reload_status, reload_code in HEADER_CASES:
            headers = {"x-codex-rbac-token": HEADER_SECRET, "x-codex-actor": "alice", **extra}
            for path, status, code in (
                (LIST, list_status, list_code),
                (RELOAD, reload_status, reload_code),
            ):
                method = served.http.get if path == LIST else served.http.post
                response = await method(path, headers=headers)
                assert response.status_code == status, (extra, path, response.text)
                assert response.json().get("code") == code, (extra, path, response.text)
            record = await newest_audit(served.manager)
            assert record.result == ("success" if reload_status == 200 else "forbidden"), extra
            if reload_code == "insufficient_role":
                assert (record.actor_id, record.actor_role) == ("alice", "member")
            if reload_status == 200:
                assert (record.actor_id, record.actor_role) == ("alice", extra["x-codex-role"])
        for secret, code in (
            (None, "missing_header_token"),
            ("wrong-secret", "invalid_header_token"),
        ):
            headers = {"x-codex-role": "admin"}
            if secret:
                headers["x-codex-rbac-token"] = secret
            for path in (LIST, RELOAD):
                method = served.http.get if path == LIST else served.http.post
                response = await method(path, headers=headers)
                assert response.status_code == 401, response.text
                assert response.json()["code"] == code
            record = await newest_audit(served.manager)
            assert (record.result, record.error_summary) == ("forbidden", code)


async def test_jwt_mode_matrix(tmp_path: Path) -> None:
    settings = {
        "extension_rbac": "jwt",
        "extension_rbac_jwt_secret": JWT_SECRET,
        "extension_rbac_jwt_issuer": "issuer-x",
    }
    expired = jwt.encode(
        {"role": "admin", "sub": "bob", "iss": "issuer-x", "exp": int(time.time()) - 60},
        JWT_SECRET,
        algorithm="HS256",
    )
    cases = [
        # (authorization, list status, list code, reload status, reload code)
        (token({"role": "admin", "sub": "bob", "iss": "issuer-x"}), 200, None, 200, None),
        (
            token({"role": "member", "sub": "bob", "iss": "issuer-x"}),
            200,
            None,
            403,
            "insufficient_role",
        ),
        (
            token({"role": "king", "iss": "issuer-x"}),
            403,
            "invalid_role_claim",
            403,
            "invalid_role_claim",
        ),
        (
            token({"sub": "bob", "iss": "issuer-x"}),
            403,
            "invalid_role_claim",
            403,
            "invalid_role_claim",
        ),
        (expired, 401, "invalid_bearer_token", 401, "invalid_bearer_token"),
        (
            token({"role": "admin", "iss": "issuer-x"}, secret="x" * 40),
            401,
            "invalid_bearer_token",
            401,
            "invalid_bearer_token",
        ),
        (
            token({"role": "admin", "iss": "other"}),
            401,
            "invalid_bearer_token",
            401,
            "invalid_bearer_token",
        ),
        (None, 401, "missing_bearer_token", 401, "missing_bearer_token"),
    ]
    async with serving(tmp_path, **settings) as served:
        for jwt_token, list_status, list_code, reload_status, reload_code in cases:
            headers = {"Authorization": f"Bearer {jwt_token}"} if jwt_token else {}
            for path, status, code in (
                (LIST, list_status, list_code),
                (RELOAD, reload_status, reload_code),
            ):
                method = served.http.get if path == LIST else served.http.post
                response = await method(path, headers=headers)
                assert response.status_code == status, (path, response.text)
                assert response.json().get("code") == code, (path, response.text)
            record = await newest_audit(served.manager)
            assert record.result == ("success" if reload_status == 200 else "forbidden")
            if reload_status == 200:
                assert (record.actor_id, record.actor_role) == ("bob", "admin")
            else:
                assert record.error_summary == reload_code


async def test_jwt_with_a_server_token_goes_in_its_own_header(tmp_path: Path) -> None:
    server_token = "server-token-0123456789"
    settings = {
        "token": server_token,
        "extension_rbac": "jwt",
        "extension_rbac_jwt_secret": JWT_SECRET,
    }
    admin = token({"role": "admin", "sub": "carol"})
    async with serving(tmp_path, **settings) as served:
        auth = {"Authorization": f"Bearer {server_token}"}
        # The server's own token comes first: without it, 401 auth_required whatever else.
        refused = await served.http.get(
            LIST, headers={"x-codex-rbac-authorization": f"Bearer {admin}"}
        )
        no_jwt = await served.http.get(LIST, headers=auth)
        listed = await served.http.get(
            LIST, headers={**auth, "x-codex-rbac-authorization": f"Bearer {admin}"}
        )
    assert refused.status_code == 401
    assert refused.json()["code"] == "auth_required"
    assert no_jwt.status_code == 401
    assert no_jwt.json()["code"] == "missing_bearer_token"
    assert listed.status_code == 200, listed.text


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"extension_rbac": "open"}, "must be one of"),
        ({"extension_rbac": "header"}, "shared secret"),
        (
            {
                "extension_rbac": "header",
                "extension_rbac_header_secret": HEADER_SECRET,
                "host": "0.0.0.0",
                "token": "server-token-0123456789",
            },
            "not a loopback address",
        ),
        ({"extension_rbac": "jwt"}, "at least 32 characters"),
        ({"extension_rbac": "jwt", "extension_rbac_jwt_secret": "short"}, "at least 32"),
        (
            {
                "extension_rbac": "jwt",
                "extension_rbac_jwt_secret": JWT_SECRET,
                "extension_rbac_jwt_role_claim": " ",
            },
            "role claim",
        ),
    ],
)
def test_misconfigured_rbac_refuses_to_start(settings: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        ServerSettings(**settings).check()


def test_insecure_header_mode_starts_only_when_asked() -> None:
    ServerSettings(extension_rbac="header", extension_rbac_allow_insecure_header=True).check()
    ServerSettings(
        extension_rbac="jwt", extension_rbac_jwt_secret=JWT_SECRET, host="0.0.0.0", token="t" * 20
    ).check()


def test_rbac_settings_from_the_environment() -> None:
    values = env_defaults(
        {
            "CODEX_MANAGER_EXTENSION_RBAC": "JWT",
            "CODEX_MANAGER_EXTENSION_RBAC_JWT_SECRET": JWT_SECRET,
            "CODEX_MANAGER_EXTENSION_RBAC_JWT_ISSUER": "iss",
            "CODEX_MANAGER_EXTENSION_RBAC_JWT_AUDIENCE": "aud",
            "CODEX_MANAGER_EXTENSION_RBAC_JWT_ROLE_CLAIM": "roles",
            "CODEX_MANAGER_EXTENSION_RBAC_JWT_ACTOR_CLAIM": "email",
            "CODEX_MANAGER_EXTENSION_RBAC_HEADER_SECRET": HEADER_SECRET,
            "CODEX_MANAGER_EXTENSION_RBAC_ALLOW_INSECURE_HEADER": "true",
        }
    )
    assert values == {
        "extension_rbac": "jwt",
        "extension_rbac_jwt_secret": JWT_SECRET,
        "extension_rbac_jwt_issuer": "iss",
        "extension_rbac_jwt_audience": "aud",
        "extension_rbac_jwt_role_claim": "roles",
        "extension_rbac_jwt_actor_claim": "email",
        "extension_rbac_header_secret": HEADER_SECRET,
        "extension_rbac_allow_insecure_header": True,
    }
    ServerSettings(**values).check()  # type: ignore[arg-type]

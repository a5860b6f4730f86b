"""Acceptance 6: bad HTTP input, on real uvicorn + the real codex binary.

Malformed JSON, wrong types, missing fields, invalid query parameters, wrong methods, bodies
over the limit and unknown ids each get the documented 4xx with `{status, code, message,
issues?}` (unknown ids: the original's `{status: "not_found", <id name>: id}`), the server
keeps serving, and nothing is written for a rejected request (the event ledger's last seq
and the project list are the same before and after).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from codex_manager_core.ports.store import Batch
from tests.acceptance.http_fixtures import Host, running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

BODY_LIMIT = 4096
UNKNOWN = "01a21088-0000-7000-8000-000000000000"
JSON = {"content-type": "application/json"}
REQUEST_TIMEOUT = 30.0
NO_JSON: Any = object()
"""`json=` not given (None is a valid JSON body)."""


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@attrs.frozen
class Case:
    method: str
    path: str
    status: int
    code: str | None = None
    json: Any = attrs.field(default=NO_JSON, kw_only=True)
    content: Any = attrs.field(default=None, kw_only=True)
    params: dict[str, str] | None = attrs.field(default=None, kw_only=True)
    issue: list[str | int] | None = attrs.field(default=None, kw_only=True)
    """The path one of the issues must have (`[]`: the body itself)."""
    says: str | None = attrs.field(default=None, kw_only=True)
    """A fragment the message must contain."""
    body: dict[str, Any] | None = attrs.field(default=None, kw_only=True)
    """Fields the answer must have, with these values."""

    @property
    def name(self) -> str:
        shown = self.path + (f"?{self.params}" if self.params else "")
        detail = self.json if self.json is not NO_JSON else self.content
        return f"{self.method} {shown} {str(detail)[:80] if detail is not None else ''}".strip()

    def kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.json is not NO_JSON:
            kwargs["json"] = self.json
        elif self.content is not None:
            kwargs["content"] = self.content() if callable(self.content) else self.content
            kwargs["headers"] = JSON
        if self.params is not None:
            kwargs["params"] = self.params
        return kwargs


def invalid(method: str, path: str, issue: list[str | int], **kwargs: Any) -> Case:
    return Case(method, path, 400, "invalid_request", issue=issue, **kwargs)


def malformed(path: str, content: bytes) -> Case:
    return Case(
        "POST", path, 400, "invalid_request", content=content, issue=[], says="not valid JSON"
    )


def wrong_method(method: str, path: str, allowed: str) -> Case:
    return Case(method, path, 405, "method_not_allowed", says=allowed)


async def chunked(size: int) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked transfer), `size` bytes in 1 KiB pieces."""
    for _ in range(size // 1024):
        yield b" " * 1024


EDIT = {"keyPath": "model", "mergeStrategy": "replace", "value": "x"}

CASES = [
    # Malformed JSON.
    malformed("/api/projects", b'{"name": '),
    malformed("/api/config/value", b"{keyPath: model}"),
    malformed("/api/account/login/start", b"nul"),
    malformed("/api/commands/exec", b'{"command": ["ls"]}}'),
    malformed("/api/feedback", b"\xff\xfe{}"),
    # A body that is not an object, or no body.
    invalid("POST", "/api/projects", [], json=[{"name": "x"}]),
    invalid("POST", "/api/config/batch", [], json="edits"),
    invalid("POST", "/api/config/value", [], content=b"", says="body is required"),
    # Wrong types.
    invalid("POST", "/api/projects", ["name"], json={"name": 5}),
    invalid("POST", "/api/config/value", ["keyPath"], json={**EDIT, "keyPath": 1}),
    invalid(
        "POST", "/api/config/value", ["mergeStrategy"], json={**EDIT, "mergeStrategy": "merge"}
    ),
    invalid("POST", "/api/config/value", ["expectedVersion"], json={**EDIT, "expectedVersion": 3}),
    invalid("POST", "/api/config/batch", ["edits"], json={"edits": []}),
    invalid(
        "POST",
        "/api/config/batch",
        ["edits", 1, "keyPath"],
        json={"edits": [EDIT, {**EDIT, "keyPath": 2}]},
    ),
    invalid("POST", "/api/commands/exec", ["command"], json={"command": "ls -la"}),
    invalid("POST", "/api/commands/exec", ["command"], json={"command": []}),
    invalid("POST", "/api/commands/exec", ["command", 1], json={"command": ["ls", 7]}),
    invalid(
        "POST", "/api/commands/exec", ["timeoutMs"], json={"command": ["ls"], "timeoutMs": "10"}
    ),
    invalid("POST", "/api/commands/exec", ["timeoutMs"], json={"command": ["ls"], "timeoutMs": 0}),
    invalid(
        "POST", "/api/skills/config", ["enabled"], json={"path": "/x/SKILL.md", "enabled": "yes"}
    ),
    invalid("POST", "/api/skills/config", ["path"], json={"path": "", "enabled": True}),
    invalid("POST", "/api/skills/config", ["enabled"], json={"path": "/x/SKILL.md", "enabled": 1}),
    invalid(
        "POST", "/api/skills/remote", ["isPreload"], json={"hazelnutId": "h", "isPreload": "false"}
    ),
    # (Never a body lenient parsing could accept: that would upload feedback for real.)
    invalid(
        "POST",
        "/api/feedback",
        ["includeLogs"],
        json={"classification": "bug", "includeLogs": "maybe"},
    ),
    invalid(
        "POST",
        "/api/feedback",
        ["classification"],
        json={"classification": 7, "includeLogs": False},
    ),
    invalid("POST", "/api/account/login/start", ["type"], json={"type": "password"}),
    invalid("POST", "/api/account/login/start", ["apiKey"], json={"type": "apiKey", "apiKey": ""}),
    invalid("POST", f"/api/mcp/servers/{UNKNOWN}/oauth/login", ["scopes"], json={"scopes": "all"}),
    invalid(
        "POST", f"/api/mcp/servers/{UNKNOWN}/oauth/login", ["timeoutSecs"], json={"timeoutSecs": -1}
    ),
    invalid(
        "POST",
        f"/api/projects/{UNKNOWN}/chats/move-all",
        ["destination"],
        json={"destination": "trash"},
    ),
    # Missing fields.
    invalid("POST", "/api/projects", ["name"], json={}),
    invalid("POST", "/api/skills/config", ["enabled"], json={"path": "/x/SKILL.md"}),
    invalid("POST", "/api/skills/remote", ["isPreload"], json={"hazelnutId": "h"}),
    invalid("POST", "/api/feedback", ["classification"], json={"includeLogs": True}),
    invalid("POST", "/api/account/login/start", ["type"], json={}),
    invalid("POST", "/api/account/login/start", ["apiKey"], json={"type": "apiKey"}),
    invalid(
        "POST",
        "/api/account/login/start",
        ["chatgptAccountId"],
        json={"type": "chatgptAuthTokens", "accessToken": "t"},
    ),
    invalid("POST", "/api/account/login/cancel", ["loginId"], json={}),
    invalid(
        "POST",
        "/api/config/value",
        ["value"],
        json={"keyPath": "model", "mergeStrategy": "replace"},
    ),
    invalid(
        "POST",
        "/api/config/batch",
        ["edits", 0, "value"],
        json={"edits": [{"keyPath": "m", "mergeStrategy": "upsert"}]},
    ),
    invalid("POST", "/api/commands/exec", ["command"], json={"cwd": "/tmp"}),
    # Invalid query parameters.
    invalid("GET", "/api/models", ["limit"], params={"limit": "0"}),
    invalid("GET", "/api/models", ["limit"], params={"limit": "201"}),
    invalid("GET", "/api/models", ["limit"], params={"limit": "ten"}),
    invalid("GET", "/api/models", ["cursor"], params={"cursor": ""}),
    invalid("GET", "/api/features/experimental", ["limit"], params={"limit": "-5"}),
    invalid("GET", "/api/mcp/servers", ["limit"], params={"limit": "1.5"}),
    invalid("GET", "/api/apps", ["forceRefetch"], params={"forceRefetch": "perhaps"}),
    invalid("GET", "/api/apps", ["threadId"], params={"threadId": ""}),
    invalid("GET", "/api/skills", ["forceReload"], params={"forceReload": "2"}),
    invalid("GET", "/api/skills", ["cwd"], params={"cwd": ""}),
    invalid("GET", "/api/config", ["includeLayers"], params={"includeLayers": "maybe"}),
    invalid("GET", "/api/capabilities", ["refresh"], params={"refresh": "maybe"}),
    invalid("GET", "/api/sessions", ["includeSystemOwned"], params={"includeSystemOwned": "2"}),
    invalid("GET", "/api/sessions", ["limit"], params={"limit": "0"}),
    invalid("GET", f"/api/sessions/{UNKNOWN}/settings", ["scope"], params={"scope": "global"}),
    invalid("GET", "/api/events", ["since"], params={"since": "-1"}),
    invalid("GET", "/api/events", ["since"], params={"since": "abc"}),
    invalid("GET", "/api/events", ["limit"], params={"limit": "100000"}),
    # Wrong methods.
    wrong_method("PUT", "/api/projects", "GET"),
    wrong_method("PATCH", f"/api/projects/{UNKNOWN}", "DELETE"),
    wrong_method("DELETE", "/api/health", "GET"),
    wrong_method("GET", "/api/config/value", "POST"),
    wrong_method("POST", "/api/models", "GET"),
    wrong_method("GET", "/api/account/logout", "POST"),
    wrong_method("DELETE", "/api/skills/remote", "GET, POST"),
    # Bodies over the limit, with a Content-Length and chunked.
    Case("POST", "/api/projects", 413, "payload_too_large", json={"name": "x" * (2 * BODY_LIMIT)}),
    Case(
        "POST",
        "/api/config/value",
        413,
        "payload_too_large",
        content=lambda: chunked(4 * BODY_LIMIT),
    ),
    Case(
        "POST",
        "/api/commands/exec",
        413,
        "payload_too_large",
        json={"command": ["echo", "y" * BODY_LIMIT]},
    ),
    # Unknown ids: the original's 404 body.
    *(
        Case(method, path, 404, body={"status": "not_found", "projectId": UNKNOWN}, **kwargs)
        for method, path, kwargs in [
            ("DELETE", f"/api/projects/{UNKNOWN}", {}),
            ("POST", f"/api/projects/{UNKNOWN}/rename", {"json": {"name": "Renamed"}}),
            ("GET", f"/api/projects/{UNKNOWN}/agent-sessions", {}),
            (
                "POST",
                f"/api/projects/{UNKNOWN}/chats/move-all",
                {"json": {"destination": "archive"}},
            ),
            ("POST", f"/api/projects/{UNKNOWN}/chats/delete-all", {}),
        ]
    ),
]

#: Unknown sessions and interactive requests (routes/sessions.py, controls.py, requests.py).
UNKNOWN_ID_CASES = [
    *(
        Case(method, path, 404, body={"status": "not_found", "sessionId": UNKNOWN}, **kwargs)
        for method, path, kwargs in [
            ("DELETE", f"/api/sessions/{UNKNOWN}", {}),
            ("POST", f"/api/sessions/{UNKNOWN}/messages", {"json": {"text": "hello"}}),
            ("GET", f"/api/sessions/{UNKNOWN}/session-controls", {}),
            ("GET", f"/api/sessions/{UNKNOWN}/settings", {}),
            (
                "POST",
                f"/api/sessions/{UNKNOWN}/approval-policy",
                {"json": {"approvalPolicy": "never"}},
            ),
        ]
    ),
    Case(
        "POST",
        f"/api/approvals/{UNKNOWN}/decision",
        404,
        json={"decision": "accept"},
        body={"status": "not_found", "approvalId": UNKNOWN},
    ),
    Case(
        "POST",
        f"/api/tool-input/{UNKNOWN}/decision",
        404,
        json={"decision": "accept", "answers": {}},
        body={"status": "not_found", "requestId": UNKNOWN},
    ),
    Case(
        "POST",
        f"/api/tool-calls/{UNKNOWN}/response",
        404,
        json={"success": True, "text": "done"},
        body={"status": "not_found", "requestId": UNKNOWN},
    ),
]


def check(case: Case, response: httpx.Response) -> list[str]:
    """What is wrong with `response` for `case` (nothing: [])."""
    problems: list[str] = []
    if response.status_code != case.status:
        return [f"status {response.status_code}, expected {case.status}: {response.text[:300]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"the answer is not JSON: {response.text[:200]!r}"]
    if not isinstance(body, dict):
        return [f"the answer is not an object: {body!r}"]
    expected_status = "not_found" if case.status == 404 else "error"
    if body.get("status") != expected_status:
        problems.append(f"status field {body.get('status')!r}, expected {expected_status!r}")
    if case.code is not None and body.get("code") != case.code:
        problems.append(f"code {body.get('code')!r}, expected {case.code!r}")
    message = body.get("message")
    if not isinstance(message, str) or not message:
        problems.append(f"no message: {body}")
    elif case.says is not None and case.says not in message:
        problems.append(f"message {message!r} does not say {case.says!r}")
    if case.issue is not None:
        issues = body.get("issues")
        if not isinstance(issues, list) or not issues:
            problems.append(f"no issues: {body}")
        elif not all(isinstance(i, dict) and isinstance(i.get("message"), str) for i in issues):
            problems.append(f"malformed issues: {issues}")
        elif case.issue not in [issue.get("path") for issue in issues]:
            problems.append(f"no issue at {case.issue}: {issues}")
    for key, value in (case.body or {}).items():
        if body.get(key) != value:
            problems.append(f"{key} is {body.get(key)!r}, expected {value!r}: {body}")
    if case.status == 405:
        allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
        if not set((case.says or "").split(", ")) <= allowed:
            problems.append(f"Allow header {response.headers.get('allow')!r}, expected {case.says}")
    return problems


async def settle(host: Host) -> int:
    """The ledger's last seq once everything the runtime already said is stored: a
    runtime round trip, then an (ordered) empty ledger write."""
    await host.manager.runtime.call("thread/loaded/list", {})
    await host.manager.ledger.write(Batch())
    response = await host.http.get("/api/events", params={"limit": 1})
    assert response.status_code == 200, response.text
    seq: int = response.json()["lastSeq"]
    return seq


async def run_cases(host: Host, cases: list[Case]) -> None:
    projects_before = (await host.http.get("/api/projects")).json()
    seq_before = await settle(host)
    failures: list[str] = []
    for case in cases:
        with anyio.fail_after(REQUEST_TIMEOUT):
            response = await host.http.request(case.method, case.path, **case.kwargs())
            failures.extend(f"{case.name}: {problem}" for problem in check(case, response))
            health = await host.http.get("/api/health")
        if health.status_code != 200:
            failures.append(f"after {case.name}: health {health.status_code}")
    assert not failures, f"{len(failures)} problem(s):\n" + "\n".join(failures)

    # Nothing was written.
    assert await settle(host) == seq_before, "events were written for rejected requests: " + str(
        (await host.http.get("/api/events", params={"since": seq_before})).json()["events"]
    )
    assert (await host.http.get("/api/projects")).json() == projects_before


async def test_bad_input_gets_a_4xx_and_writes_nothing(tmp_path: Path) -> None:
    async with running_host(tmp_path, settings={"body_limit": BODY_LIMIT}) as host:
        created = await host.http.post("/api/projects", json={"name": "Existing"})
        assert created.status_code == 200, created.text
        await run_cases(host, CASES)
        # Still fully working: a valid write right after all that.
        created = await host.http.post("/api/projects", json={"name": "Afterwards"})
        assert created.status_code == 200, created.text


async def test_unknown_sessions_and_requests_get_the_original_404(tmp_path: Path) -> None:
    async with running_host(tmp_path, settings={"body_limit": BODY_LIMIT}) as host:
        await run_cases(host, UNKNOWN_ID_CASES)


async def test_methods_the_runtime_lacks_get_501(tmp_path: Path) -> None:
    """codex 0.163 has no `skills/remote/*`: the original's 501 method_not_supported."""
    async with running_host(tmp_path) as host:
        for method, kwargs in (
            ("GET", {}),
            ("POST", {"json": {"hazelnutId": "h", "isPreload": False}}),
        ):
            response = await host.http.request(method, "/api/skills/remote", **kwargs)
            assert response.status_code == 501, response.text
            body = response.json()
            assert body["status"] == "error"
            assert body["code"] == "method_not_supported"
            assert "skills/remote/" in body["message"]
        assert (await host.http.get("/api/health")).status_code == 200

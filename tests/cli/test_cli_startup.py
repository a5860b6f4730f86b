"""Start-up: `cmgr sessions list` against a server imports nothing of the server stack,
the core's services, httpx, anyio or rich (they cost most of the CLI's start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.stub_server import stub_server

#: Each costs start-up time a request does not need (attrs ~15 ms, http.client ~45 ms: the
#: fast path uses stdlib dataclasses and a socket; docs/performance.md, "CLI start-up").
FORBIDDEN = (
    "litestar",
    "uvicorn",
    "httpx",
    "httpx_ws",
    "anyio",
    "rich",
    "apsw",
    "msgspec",
    "attrs",
    "attr",
    "http.client",
    "email",
    "ssl",
)
FORBIDDEN_CORE = (
    "codex_manager_core.services",
    "codex_manager_core.store",
    "codex_manager_core.runtime",
    "codex_manager_core.manager",
    "codex_manager_http",
    "codex_manager_cli.live",
    "codex_manager_cli.embedded",
)
PROBE = """
import json, sys
sys.argv = ["cmgr", *sys.argv[1:]]
from codex_manager_cli.main import cli
try:
    cli()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def loaded(tmp_path: Path, *args: str) -> list[str]:
    with stub_server() as stub:
        stub.answers["/api/sessions"] = (200, {"status": "ok", "sessions": []})
        done = subprocess.run(
            [sys.executable, "-c", PROBE, "--server", stub.url, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"CODEX_MANAGER_CONFIG": str(tmp_path / "cli.toml"), "PATH": ""},
            check=False,
        )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    modules: list[str] = report["modules"]
    return modules


def test_sessions_list_imports_no_server_stack(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "sessions", "list", "-o", "table")
    heavy = [
        name
        for name in modules
        if name.split(".")[0] in FORBIDDEN or name.startswith(FORBIDDEN_CORE)
    ]
    assert heavy == []


def test_help_sends_nothing_and_loads_no_error_types(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "--help")
    assert "codex_manager_cli.runner" not in modules
    assert "codex_manager_client.errors" not in modules
    assert "codex_manager_core.errors" not in modules

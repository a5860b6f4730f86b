"""`codex-manager serve` takes the original Codex Manager's environment variables: the
session defaults reach new sessions, PORT and DATA_DIR apply with the opt-in, each use is
logged, and a bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.serve_process import serve_env, serve_process
from tests.acceptance.test_serve_startup import CLI, error_lines, fake_codex, run_cli

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server runs on uvicorn; this test only drives it


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.real_runtime
async def test_the_session_defaults_reach_new_sessions(tmp_path: Path) -> None:
    env = serve_env(
        tmp_path,
        DEFAULT_APPROVAL_POLICY="never",
        DEFAULT_SANDBOX_MODE="workspace-write",
        DEFAULT_NETWORK_ACCESS="enabled",
        SESSION_DEFAULTS_LOCKED="true",
        PORT="1",  # the generic names are not taken without the opt-in
    )
    async with serve_process(tmp_path / "data", env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            created = await http.post("/api/sessions", json={})
            assert created.status_code == 200, created.text
            session = created.json()["session"]["sessionId"]
            state = (await http.get(f"/api/sessions/{session}/session-controls")).json()
        lines = list(server.lines)
    assert state["defaults"]["approvalPolicy"] == "never"
    assert state["defaults"]["filesystemSandbox"] == "workspace-write"
    assert state["defaults"]["networkAccess"] == "enabled"
    assert state["defaultsEditable"] is False
    said = "\n".join(lines)
    assert (
        "INFO codex_manager_http.original_env: using DEFAULT_SANDBOX_MODE=workspace-write" in said
    )
    assert "PORT is set but not used" in said
    assert "CODEX_MANAGER_ORIGINAL_ENV=true" in said


def test_port_and_data_dir_apply_with_the_opt_in(tmp_path: Path, busy_port: int) -> None:
    # The busy port stops start-up before anything is opened: it shows which port and
    # data directory were chosen without running a server.
    codex, _ = fake_codex(tmp_path)
    data_dir = tmp_path / "original-data"
    env = serve_env(
        tmp_path, CODEX_MANAGER_ORIGINAL_ENV="true", PORT=str(busy_port), DATA_DIR=str(data_dir)
    )
    for stray in ("HOST", "CODEX_HOME"):  # whatever the shell running the tests has
        env.pop(stray, None)
    result = run_cli([str(CLI), "serve", "--codex-bin", str(codex)], env)
    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result.stderr)
    assert f"127.0.0.1:{busy_port}" in line
    assert "already in use" in line
    assert f"using PORT={busy_port} (the original Codex Manager's variable)" in result.stderr
    assert f"using DATA_DIR={data_dir}" in result.stderr
    assert not data_dir.exists()
    # The option still wins over the alias.
    other = run_cli([str(CLI), "serve", "--port", "abc"], env)
    assert other.returncode == 2
    assert "'abc' is not a valid integer" in other.stderr


def test_a_bad_value_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = serve_env(tmp_path, CODEX_MANAGER_ORIGINAL_ENV="true", PORT="abc")
    result = run_cli([str(CLI), "serve", "--data-dir", str(tmp_path / "data")], env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Error: PORT=abc: not a port number" in result.stderr
    assert not (tmp_path / "data").exists()
    env = serve_env(tmp_path, SESSION_DEFAULTS_LOCKED="yes")
    result = run_cli([str(CLI), "serve", "--data-dir", str(tmp_path / "data")], env)
    assert result.returncode == 2
    assert "Error: SESSION_DEFAULTS_LOCKED=yes: not true or false" in result.stderr

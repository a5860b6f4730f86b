"""The CLI as a user runs it: `cmgr` subprocesses against one real server per module
(`codex-manager serve --demo`, the real codex binary offline, a bearer token), plus the
embedded `--data-dir` form. The happy path of every group, in each output format and
with the --json envelope; unknown ids, a wrong token and a server that is down."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import attrs
import pytest

from tests.acceptance.serve_process import serve_env, serve_process

pytestmark = pytest.mark.real_runtime

CMGR = Path(sys.executable).parent / "cmgr"
TOKEN = "cli-test-token-0123456789"
RUN_TIMEOUT = 120


@attrs.frozen
class Server:
    url: str
    root: Path


@attrs.frozen
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("cli-server")
    env = serve_env(root)
    with anyio.from_thread.start_blocking_portal() as portal:
        running = serve_process(root / "data", "--token", TOKEN, env=env)
        with portal.wrap_async_context_manager(running) as process:
            yield Server(process.url, root)


def cmgr(server: Server | None, *args: str, env: dict[str, str] | None = None) -> Done:
    """Run `cmgr` (stdout piped, so json is the default output); bounded."""
    root = server.root if server is not None else Path("/nonexistent")
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(root / "home"),
        "CODEX_MANAGER_CONFIG": str(root / "cli.toml"),
    }
    if server is not None:
        base.update(CODEX_MANAGER_SERVER=server.url, CODEX_MANAGER_TOKEN=TOKEN)
    base.update(env or {})
    done = subprocess.run(
        [str(CMGR), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=base,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def ok(done: Done) -> Done:
    assert done.code == 0, (done.code, done.err)
    return done


# ---------------------------------------------------------------- happy paths, by group


def test_system_group(server: Server) -> None:
    assert ok(cmgr(server, "system", "health")).json()["status"] == "ok"
    assert ok(cmgr(server, "system", "info")).json()
    assert "paths" in ok(cmgr(server, "system", "openapi")).json()
    assert ok(cmgr(server, "system", "capabilities")).json()["status"] == "ok"
    assert "codex_manager" in ok(cmgr(server, "metrics", "get")).out


def test_models_in_each_format(server: Server) -> None:
    as_json = ok(cmgr(server, "models", "list")).json()
    assert as_json["status"] == "ok"
    assert isinstance(as_json["data"], list)
    lines = ok(cmgr(server, "models", "list", "-o", "jsonl")).out.splitlines()
    assert [json.loads(line) for line in lines] == as_json["data"]
    table = ok(cmgr(server, "models", "list", "-o", "table")).out
    assert table.splitlines()[0].split()[:1] == ["id"] or table == "(none)\n"


def test_sessions_lifecycle(server: Server, tmp_path: Path) -> None:
    created = ok(cmgr(server, "sessions", "create", "--title", "From the CLI")).json()
    session_id = created["session"]["sessionId"]
    listed = ok(cmgr(server, "sessions", "list", "-o", "jsonl")).out.splitlines()
    assert session_id in [json.loads(line)["sessionId"] for line in listed]
    table = ok(cmgr(server, "-o", "table", "sessions", "list")).out.splitlines()
    assert table[0].split() == ["sessionId", "title", "projectId", "materialized", "updatedAt"]
    assert any(line.startswith(session_id) and "From the CLI" in line for line in table)
    body = tmp_path / "rename.json"
    body.write_text(json.dumps({"title": "Renamed"}))
    renamed = ok(cmgr(server, "sessions", "rename", session_id, "--body", f"@{body}")).json()
    assert renamed["session"]["title"] == "Renamed"
    assert ok(cmgr(server, "sessions", "get", session_id)).json()["session"]["title"] == "Renamed"
    controls = ok(cmgr(server, "sessions", "controls", "get", session_id)).json()
    assert controls["status"] == "ok"
    value = '{"on": true}'
    settings = cmgr(
        server, "sessions", "settings", "set", session_id, "--key", "flags", "--value", value
    )
    assert ok(settings).json()["status"] == "ok"
    got = ok(cmgr(server, "sessions", "settings", "get", session_id, "--key", "flags")).json()
    assert json.dumps(got).count('"on": true') >= 1
    for group in ("approvals", "tool-input", "tool-calls"):
        assert ok(cmgr(server, "sessions", group, "list", session_id)).json()["data"] == []
    refused = cmgr(server, "sessions", "archive", session_id)  # nothing sent yet: 409
    assert refused.code == 5
    assert "(HTTP 409 not_materialized)" in refused.err
    assert ok(cmgr(server, "sessions", "delete", session_id)).json()["status"] == "ok"
    gone = cmgr(server, "sessions", "get", session_id)
    assert gone.code == 3
    assert "deleted" in gone.err


def test_send_a_message(server: Server) -> None:
    session_id = ok(cmgr(server, "sessions", "create")).json()["session"]["sessionId"]
    sent = ok(cmgr(server, "--json", "sessions", "send", session_id, "--text", "hello"))
    envelope = sent.json()
    assert envelope["ok"] is True
    assert envelope["command"] == "sessions send"
    assert envelope["request"]["method"] == "POST"
    assert envelope["request"]["path"] == f"/api/sessions/{session_id}/messages"
    assert envelope["response"]["statusCode"] == 202
    assert envelope["response"]["body"]["turnId"]
    transcript = ok(cmgr(server, "sessions", "transcript", "get", session_id)).json()
    assert transcript["status"] == "ok"


def test_projects_and_jobs(server: Server, tmp_path: Path) -> None:
    created = ok(cmgr(server, "projects", "create", "--name", "cli-project")).json()
    project_id = created["project"]["projectId"]
    names = [p["name"] for p in ok(cmgr(server, "projects", "list")).json()["data"]]
    assert "cli-project" in names
    renamed = cmgr(
        server,
        "projects",
        "rename",
        project_id,
        "--name",
        "cli-renamed",
        "--working-directory",
        str(tmp_path),
    )
    assert ok(renamed).json()["project"]["workingDirectory"] == str(tmp_path)
    assert ok(cmgr(server, "projects", "agent-sessions", "list", project_id)).json()["data"] == []
    assert ok(cmgr(server, "projects", "jobs", "list", project_id)).json()["data"] == []
    assert ok(cmgr(server, "jobs", "list", "--state", "queued,running")).json()["status"] == "ok"
    assert ok(cmgr(server, "orchestrator", "jobs", "list", "-o", "table")).out
    assert ok(cmgr(server, "projects", "delete", project_id)).json()["status"] == "ok"


def test_events_extensions_and_raw_requests(server: Server) -> None:
    events = ok(cmgr(server, "events", "list", "--limit", "5", "-o", "jsonl")).out.splitlines()
    assert 0 < len(events) <= 5
    assert all("seq" in json.loads(line) for line in events)
    assert ok(cmgr(server, "agents", "extensions", "list")).json()["status"] == "ok"
    raw = ok(cmgr(server, "api", "request", "--path", "/sessions", "--query", "limit=1")).json()
    assert raw["status"] == "ok"


def test_discovery_account_config_and_runtime(server: Server) -> None:
    for args in (
        ("apps", "list"),
        ("skills", "list"),
        ("mcp", "servers", "list"),
        ("system", "features", "list"),
        ("system", "collaboration-modes", "list"),
    ):
        assert isinstance(ok(cmgr(server, *args)).json()["data"], list), args
    assert ok(cmgr(server, "mcp", "reload")).json()["status"] == "ok"
    assert ok(cmgr(server, "account", "get")).json()["status"] == "ok"
    assert ok(cmgr(server, "config", "get")).json()["config"]["model"]
    assert ok(cmgr(server, "config", "requirements")).json()["status"] == "ok"
    ran = ok(cmgr(server, "runtime", "exec", "--", "echo", "from the cli")).json()
    assert ran["result"]["stdout"] == "from the cli\n"
    not_logged_in = cmgr(server, "account", "rate-limits")  # the demo has no account: 409
    assert not_logged_in.code == 5
    assert "codex_auth_required" in not_logged_in.err


# ---------------------------------------------------------------- error paths


def test_unknown_ids(server: Server) -> None:
    missing = cmgr(server, "sessions", "get", "no-such-session")
    assert (missing.code, missing.out) == (3, "")
    assert "no session 'no-such-session'" in missing.err
    job = cmgr(server, "--json", "orchestrator", "jobs", "cancel", "no-such-job")
    assert job.code == 0  # an outcome the original's users branch on
    assert job.json()["response"]["statusCode"] == 404
    decided = cmgr(server, "--json", "tool-input", "decide", "nope", "--decision", "accept")
    assert decided.json()["ok"] is True
    approval = cmgr(server, "approvals", "decide", "nope", "--decision", "accept")
    assert approval.code == 3
    assert "no approval 'nope'" in approval.err
    call = cmgr(server, "-o", "jsonl", "tool-calls", "respond", "nope", "--text", "x", "--json")
    assert json.loads(call.out)["response"]["statusCode"] == 404
    project = cmgr(server, "--json", "projects", "rename", "nope", "--name", "x")
    assert project.code == 3
    assert json.loads(project.err)["error"]["kind"] in ("not_found", "project_not_found")


def test_a_wrong_token_is_401(server: Server) -> None:
    refused = cmgr(server, "sessions", "list", env={"CODEX_MANAGER_TOKEN": "wrong"})
    assert refused.code == 4
    assert "HTTP 401" in refused.err


def test_a_server_that_is_down() -> None:
    down = cmgr(None, "--server", "http://127.0.0.1:9", "sessions", "list")
    assert down.code == 6
    assert "server not reachable at http://127.0.0.1:9" in down.err


# ---------------------------------------------------------------- embedded


def test_embedded_and_remote_answer_alike(server: Server, tmp_path: Path) -> None:
    demo = {"CODEX_MANAGER_DEMO": "1", "CODEX_MANAGER_SERVER": "", "CODEX_MANAGER_TOKEN": ""}
    data = ["--data-dir", str(tmp_path / "embedded")]
    for args, code in (
        (("system", "info"), 0),
        (("sessions", "get", "no-such-session"), 3),
        (("-o", "table", "projects", "list"), 0),
    ):
        remote = cmgr(server, *args)
        embedded = cmgr(server, *data, *args, env=demo)
        assert (embedded.code, embedded.out) == (remote.code, remote.out) == (code, remote.out), (
            args
        )
        assert embedded.err == remote.err
    created = cmgr(server, *data, "sessions", "create", "--title", "Embedded", env=demo)
    session_id = ok(created).json()["session"]["sessionId"]
    listed = ok(cmgr(server, *data, "sessions", "list", env=demo)).json()
    assert [s["sessionId"] for s in listed["sessions"]] == [session_id]  # durable: a 2nd start


def test_embedded_on_a_data_dir_a_server_has_open(server: Server) -> None:
    refused = cmgr(server, "--data-dir", str(server.root / "data"), "sessions", "list")
    assert refused.code == 1
    assert "is in use by a running server: talk to it with --server URL" in refused.err
    assert "Traceback" not in refused.err

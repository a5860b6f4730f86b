"""The CLI without the real server (CliRunner, a stub HTTP server): how arguments become
requests, the output formats, the --json envelope, exit codes, targets and contexts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from codex_manager_cli import exits, output
from codex_manager_cli.bindings import build_request
from codex_manager_cli.main import cli
from codex_manager_cli.route_table import BINDINGS
from tests.cli.stub_server import Stub, stub_server

ENV_NAMES = (
    "CODEX_MANAGER_SERVER",
    "CODEX_MANAGER_API_BASE",
    "CODEX_MANAGER_TOKEN",
    "CODEX_MANAGER_BEARER_TOKEN",
    "CODEX_MANAGER_TIMEOUT_MS",
    "CODEX_MANAGER_API_PREFIX",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "cli.toml"
    monkeypatch.setenv("CODEX_MANAGER_CONFIG", str(config))
    return config


@pytest.fixture
def stub() -> Iterator[Stub]:
    with stub_server() as server:
        yield server


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def binding(*command: str) -> Any:
    return next(item for item in BINDINGS if item.command == command)


# ---------------------------------------------------------------- the binding table


def test_options_become_query_and_body_fields() -> None:
    path, query, body = build_request(
        binding("sessions", "list"),
        {},
        {"archived": True, "project-id": "p1", "limit": 5, "cursor": None},
        None,
    )
    assert (path, query, body) == (
        "/sessions",
        {"archived": True, "projectId": "p1", "limit": 5},
        None,
    )
    path, query, body = build_request(
        binding("sessions", "send"), {"sessionId": "a/../b"}, {"text": "hi"}, {"model": "m"}
    )
    assert path == "/sessions/a%2F..%2Fb/messages"  # a hostile id stays one segment
    assert body == {"model": "m", "text": "hi"}


@pytest.mark.parametrize("hostile", ["", " ", ".", ".."])
def test_ids_that_would_change_the_route_are_refused(hostile: str) -> None:
    with pytest.raises(ValueError, match=r"SESSION_ID .* is not an id"):
        build_request(binding("sessions", "get"), {"sessionId": hostile}, {}, None)


def test_required_fields_may_come_from_the_body() -> None:
    rename = binding("sessions", "rename")
    with pytest.raises(ValueError, match="missing --title"):
        build_request(rename, {"sessionId": "s"}, {}, None)
    assert build_request(rename, {"sessionId": "s"}, {}, {"title": "t"})[2] == {"title": "t"}


def test_json_options_take_inline_json_or_a_file(tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text('[{"name": "x"}]')
    create = binding("sessions", "create")
    assert build_request(create, {}, {"dynamic-tools": f"@{tools}"}, None)[2] == {
        "dynamicTools": [{"name": "x"}]
    }
    assert build_request(create, {}, {"dynamic-tools": "[]"}, None)[2] == {"dynamicTools": []}
    with pytest.raises(ValueError, match=r"--dynamic-tools: the value is not valid JSON"):
        build_request(create, {}, {"dynamic-tools": "[oops"}, None)
    with pytest.raises(ValueError, match="cannot read"):
        build_request(create, {}, {"dynamic-tools": f"@{tmp_path / 'missing.json'}"}, None)


def test_csv_and_tristate_kinds() -> None:
    _, query, _ = build_request(
        binding("orchestrator", "jobs", "list"), {}, {"state": ("queued,running", "failed")}, None
    )
    assert query == {"state": ["queued", "running", "failed"]}
    body = build_request(
        binding("sessions", "project", "set"), {"sessionId": "s"}, {"project-id": "null"}, None
    )[2]
    assert body == {"projectId": None}


# ---------------------------------------------------------------- requests and output


def test_a_command_sends_its_request(stub: Stub) -> None:
    stub.answers["/api/sessions/s1/rename"] = (200, {"status": "ok", "session": {"title": "New"}})
    result = run(
        "--server", stub.url, "--token", "tok", "sessions", "rename", "s1", "--title", "New"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"status": "ok", "session": {"title": "New"}}
    seen = stub.seen[-1]
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/api/sessions/s1/rename",
        {"title": "New"},
    )
    assert seen.headers["authorization"] == "Bearer tok"


def test_runtime_exec_takes_the_trailing_words(stub: Stub) -> None:
    stub.answers["/api/commands/exec"] = (200, {"status": "ok"})
    result = run("--server", stub.url, "runtime", "exec", "--cwd", "/tmp", "--", "ls", "-l")
    assert result.exit_code == 0, result.output
    assert stub.seen[-1].body == {"cwd": "/tmp", "command": ["ls", "-l"]}


SESSIONS = {
    "status": "ok",
    "sessions": [
        {
            "sessionId": "a",
            "title": "First",
            "projectId": None,
            "materialized": True,
            "updatedAt": 1,
        },
        {
            "sessionId": "b",
            "title": "Second",
            "projectId": "p",
            "materialized": False,
            "updatedAt": 2,
        },
    ],
    "nextCursor": None,
}


def test_output_formats(stub: Stub) -> None:
    stub.answers["/api/sessions"] = (200, SESSIONS)
    as_json = run("--server", stub.url, "sessions", "list", "-o", "json")
    assert json.loads(as_json.output) == SESSIONS
    lines = run("--server", stub.url, "sessions", "list", "-o", "jsonl").output.splitlines()
    assert [json.loads(line)["sessionId"] for line in lines] == ["a", "b"]
    table = run("--server", stub.url, "-o", "table", "sessions", "list").output.splitlines()
    assert table[0].split() == ["sessionId", "title", "projectId", "materialized", "updatedAt"]
    assert table[1].split() == ["a", "First", "-", "yes", "1"]
    assert table[2].split() == ["b", "Second", "p", "no", "2"]


def test_piped_output_defaults_to_json(stub: Stub) -> None:
    stub.answers["/api/sessions"] = (200, SESSIONS)
    assert json.loads(run("--server", stub.url, "sessions", "list").output) == SESSIONS


def test_text_answers_are_printed_as_they_are(stub: Stub) -> None:
    stub.answers["/api/metrics"] = (200, "# HELP x\nx 1\n")
    assert run("--server", stub.url, "metrics", "get").output == "# HELP x\nx 1\n"


def test_table_writer() -> None:
    assert output.table([]) == "(none)\n"
    text = output.table([{"a": "x" * 100, "b": {"deep": 1}}])
    assert text.splitlines()[0].split() == ["a"]  # nested values are not columns by default
    assert text.splitlines()[1].endswith("…")
    assert output.fields({"status": "ok", "n": None}) == "status  ok\nn       -\n"
    assert output.record({"status": "ok", "project": {"name": "p"}}) == {"name": "p"}


def test_send_wait_follows_the_turn_from_the_answers_since_seq(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codex_manager_cli import live

    calls: list[tuple[Any, ...]] = []

    def follow_turn(target: Any, session_id: str, turn_id: str, **kwargs: Any) -> int:
        calls.append((target.server, session_id, turn_id, kwargs))
        return 0

    monkeypatch.setattr(live, "follow_turn", follow_turn)
    stub.answers["/api/sessions/s1/messages"] = (
        202,
        {"status": "accepted", "turnId": "t1", "sinceSeq": 41},
    )
    result = run("--server", stub.url, "sessions", "send", "s1", "--text", "hi", "--wait")
    assert result.exit_code == 0, result.output
    assert result.output == ""  # follow_turn prints the turn
    assert calls == [
        (
            stub.url,
            "s1",
            "t1",
            {"since": 41, "output": "json", "no_input": True, "timeout": None},
        )
    ]
    assert [seen.path for seen in stub.seen] == ["/api/sessions/s1/messages"]


def test_the_json_envelope(stub: Stub) -> None:
    stub.answers["/api/health"] = (200, {"status": "ok"})
    result = run("--server", stub.url, "--json", "system", "health")
    assert json.loads(result.output) == {
        "ok": True,
        "command": "system health",
        "request": {"method": "GET", "path": "/api/health", "url": f"{stub.url}/api/health"},
        "response": {"statusCode": 200, "body": {"status": "ok"}},
    }


def test_an_allowed_status_is_an_outcome_under_json(stub: Stub) -> None:
    stub.answers["/api/sessions/gone/messages"] = (
        410,
        {"status": "deleted", "code": "deleted", "message": "deleted"},
    )
    enveloped = run("--server", stub.url, "sessions", "send", "gone", "--text", "hi", "--json")
    assert enveloped.exit_code == 0
    assert json.loads(enveloped.output)["response"]["statusCode"] == 410
    plain = run("--server", stub.url, "sessions", "send", "gone", "--text", "hi")
    assert plain.exit_code == exits.NOT_FOUND
    assert "error: deleted (HTTP 410 deleted)" in plain.stderr


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, exits.USAGE),
        (401, exits.AUTH),
        (404, exits.NOT_FOUND),
        (409, exits.CONFLICT),
        (503, exits.RUNTIME_UNAVAILABLE),
        (500, exits.FAILURE),
    ],
)
def test_error_statuses_have_their_exit_codes(stub: Stub, status: int, code: int) -> None:
    stub.answers["/api/sessions/x/archive"] = (
        status,
        {"code": "some_code", "message": "the server's words"},
    )
    result = run("--server", stub.url, "sessions", "archive", "x")
    assert result.exit_code == code
    assert result.stdout == ""
    assert f"error: the server's words (HTTP {status} some_code)" in result.stderr


def test_errors_under_json_go_to_stderr(stub: Stub) -> None:
    result = run("--server", stub.url, "--json", "sessions", "archive", "x")
    assert result.exit_code == exits.NOT_FOUND
    envelope = json.loads(result.stderr)
    assert envelope["ok"] is False
    assert envelope["error"]["kind"] == "not_found"
    assert envelope["error"]["message"] == "nope"


def test_a_server_that_is_down() -> None:
    result = run("--server", "http://127.0.0.1:1", "sessions", "list")
    assert result.exit_code == exits.UNREACHABLE
    assert "server not reachable at http://127.0.0.1:1" in result.stderr
    assert "codex-manager serve" in result.stderr
    enveloped = run("--server", "http://127.0.0.1:1", "--json", "sessions", "list")
    assert json.loads(enveloped.stderr)["error"]["kind"] == "transport_error"


def test_bad_arguments_are_usage_errors(stub: Stub) -> None:
    result = run("--server", stub.url, "sessions", "create", "--body", "{nope")
    assert result.exit_code == exits.USAGE
    assert "--body: the value is not valid JSON" in result.stderr
    assert run("--server", "ftp://x", "sessions", "list").exit_code == exits.USAGE
    assert run("--server", stub.url, "sessions", "list", "--limit", "many").exit_code == exits.USAGE
    both = run("--server", stub.url, "--data-dir", "/tmp/x", "sessions", "list")
    assert both.exit_code == exits.USAGE
    assert "not both" in both.stderr
    assert stub.seen == []


def test_api_request(stub: Stub, tmp_path: Path) -> None:
    stub.answers["/api/anything"] = (404, {"code": "not_found", "message": "no"})
    body = tmp_path / "body.json"
    body.write_text('{"a": 1}')
    args = [
        "api",
        "request",
        "-X",
        "post",
        "--path",
        "/anything",
        "--query",
        "k=v",
        "--query",
        "k=w",
    ]
    args += ["--body", f"@{body}", "--header", "X-Test: 1"]
    result = run("--server", stub.url, *args, "--allow-status", "404")
    assert result.exit_code == 0
    seen = stub.seen[-1]
    assert (seen.method, seen.query, seen.body) == ("POST", {"k": ["v", "w"]}, {"a": 1})
    assert seen.headers["x-test"] == "1"
    assert run("--server", stub.url, *args).exit_code == exits.NOT_FOUND
    stub.answers["/api/health"] = (200, {"status": "ok"})
    for path in ("/health", "health", "/api/health"):
        assert run("--server", stub.url, "api", "request", "--path", path).exit_code == 0, path
    assert [seen.path for seen in stub.seen[-3:]] == ["/api/health"] * 3


# ---------------------------------------------------------------- targets and contexts


def test_environment_names_ours_and_the_originals(stub: Stub) -> None:
    stub.answers["/api/health"] = (200, {"status": "ok"})
    assert run("system", "health", env={"CODEX_MANAGER_SERVER": stub.url}).exit_code == 0
    result = run(
        "system",
        "health",
        env={"CODEX_MANAGER_API_BASE": stub.url, "CODEX_MANAGER_BEARER_TOKEN": "orig"},
    )
    assert result.exit_code == 0
    assert stub.seen[-1].headers["authorization"] == "Bearer orig"


def test_the_originals_global_flags(stub: Stub) -> None:
    stub.answers["/v2/health"] = (200, {"status": "ok"})
    args = ["--base-url", stub.url, "--api-prefix", "/v2", "--bearer", "b", "--timeout-ms", "5000"]
    args += ["--headers", "x-extra:1", "--role", "admin"]
    assert run(*args, "system", "health").exit_code == 0
    headers = stub.seen[-1].headers
    assert (headers["authorization"], headers["x-extra"], headers["x-codex-role"]) == (
        "Bearer b",
        "1",
        "admin",
    )


def test_contexts(stub: Stub, clean_env: Path) -> None:
    stub.answers["/api/health"] = (200, {"status": "ok"})
    assert run("context", "set", "dev", "--server", stub.url, "--token", "secret").exit_code == 0
    assert (clean_env.stat().st_mode & 0o777) == 0o600
    listed = run("context", "list").output
    assert "dev" in listed
    assert "token set" in listed
    assert "secret" not in listed
    assert run("--context", "dev", "system", "health").exit_code == 0
    assert stub.seen[-1].headers["authorization"] == "Bearer secret"
    assert run("context", "use", "dev").exit_code == 0
    assert run("--profile", "dev", "system", "health").exit_code == 0
    assert run("system", "health").exit_code == 0  # the current context
    assert len(stub.seen) == 3
    # flags beat the context
    assert run("--server", "http://127.0.0.1:1", "system", "health").exit_code == exits.UNREACHABLE
    assert run("context", "delete", "dev").exit_code == 0
    assert run("--context", "dev", "system", "health").exit_code == exits.USAGE
    assert run("context", "delete", "local").exit_code == exits.USAGE
    assert run("context", "set", "bad", "--server", "nope").exit_code == exits.USAGE


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("current = [", ""),
        ('current = "x"\n[contexts.x]\ntimeout = "soon"', "timeout of context 'x'"),
        ('current = "x"\n[contexts.x]\nserver = 5', "server of context 'x'"),
        ('current = "x"\ncontexts = {x = 1}', "context 'x' is not a table"),
    ],
)
def test_a_broken_config_file_is_named(clean_env: Path, text: str, named: str) -> None:
    clean_env.write_text(text)
    result = run("sessions", "list")
    assert result.exit_code == 1
    assert str(clean_env) in result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.output


def test_completion_scripts() -> None:
    for shell in ("bash", "zsh", "fish"):
        result = run("completion", shell)
        assert result.exit_code == 0
        assert "_CMGR_COMPLETE" in result.output


def test_no_input_is_implied_without_a_tty(stub: Stub) -> None:
    from codex_manager_cli.context import CliContext

    seen: list[CliContext] = []
    import click

    @cli.command("probe-context", hidden=True)
    @click.pass_obj
    def probe(obj: CliContext) -> None:
        seen.append(obj)

    try:
        assert run("--server", stub.url, "probe-context").exit_code == 0
    finally:
        cli.commands.pop("probe-context")
    assert seen[0].no_input is True
    assert seen[0].output == "json"


def test_the_exit_code_table_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for code, _meaning in exits.TABLE:
        assert f"\n| {code} | " in docs, code


def test_sessions_inspect_filters_and_cuts_the_transcript(stub: Stub) -> None:
    transcript = [
        {
            "turnId": "t1",
            "role": "user",
            "type": "userMessage",
            "status": "complete",
            "content": "hi",
        },
        {
            "turnId": "t1",
            "role": "assistant",
            "type": "agentMessage",
            "status": "complete",
            "content": "a" * 50,
        },
        {
            "turnId": "t2",
            "role": "assistant",
            "type": "agentMessage",
            "status": "complete",
            "content": "last",
        },
    ]
    stub.answers["/api/sessions/s1"] = (
        200,
        {"status": "ok", "session": {"sessionId": "s1"}, "transcript": transcript},
    )
    args = ["--server", stub.url, "sessions", "inspect", "s1", "--role", "assistant"]
    view = json.loads(run(*args, "--content-chars", "10").output)
    assert view["session"] == {"sessionId": "s1"}
    assert view["transcript"]["matched"] == 2
    assert [entry["content"] for entry in view["transcript"]["entries"]] == ["a" * 10 + "…", "last"]
    assert view["transcript"]["entries"][0]["contentChars"] == 50
    tail = json.loads(run(*args, "--transcript-tail", "1").output)["transcript"]
    assert (tail["matched"], tail["shown"], tail["entries"][0]["content"]) == (2, 1, "last")
    assert run("--server", stub.url, "sessions", "inspect", "nope").exit_code == exits.NOT_FOUND

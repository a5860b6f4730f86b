"""The browser defences' rules (guard.py), the new settings, token redaction and the JSON
nesting bound, without a server: the decisions the acceptance tests then check end to end
(tests/acceptance/test_http_browser_defence.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from codex_manager_http.asgi import Message
from codex_manager_http.guard import (
    GuardPolicy,
    guard_middleware,
    is_json_media_type,
    origin_key,
    split_authority,
)
from codex_manager_http.logging_setup import RedactTokens, redact
from codex_manager_http.settings import ServerSettings, SettingsError, env_defaults
from codex_manager_http.validation import MAX_JSON_DEPTH, nested_too_deep

DEFAULT = GuardPolicy.from_lists("127.0.0.1", (), ())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"localhost", (b"localhost", None)),
        (b"LOCALHOST:3001", (b"localhost", b"3001")),
        (b"localhost.", (b"localhost", None)),
        (b"127.0.0.1:80", (b"127.0.0.1", b"80")),
        (b"[::1]:3001", (b"[::1]", b"3001")),
        (b"[::1]", (b"[::1]", None)),
        (b"localhost:", None),
        (b"localhost:30x", None),
        (b"::1", None),
        (b"user@localhost", None),
        (b"localhost/path", None),
        (b"", None),
        (b"[::1", None),
        (b"[::1]x", None),
    ],
)
def test_split_authority(value: bytes, expected: Any) -> None:
    assert split_authority(value) == expected


@pytest.mark.parametrize(
    "host",
    [
        b"localhost",
        b"localhost:3001",
        b"Localhost:1",
        b"127.0.0.1",
        b"127.0.0.1:3001",
        b"127.1.2.3:3001",
        b"[::1]:3001",
        b"[::ffff:127.0.0.1]",
    ],
)
def test_loopback_names_pass_by_default(host: bytes) -> None:
    assert DEFAULT.host_allowed(host), host


@pytest.mark.parametrize(
    "host",
    [
        b"evil.example",
        b"evil.example:3001",
        b"localhost.evil.example",
        b"127.0.0.1.nip.io",
        b"192.168.1.5:3001",
        b"0.0.0.0:3001",
        b"[::]:3001",
        b"",
        b"localhost:3001, evil.example",
    ],
)
def test_other_names_are_refused_by_default(host: bytes) -> None:
    assert not DEFAULT.host_allowed(host), host


def test_the_bind_address_and_the_allow_list_pass() -> None:
    policy = GuardPolicy.from_lists("192.168.1.5", ("devbox.local", "10.0.0.7:99", "::2"), ())
    for host in (
        b"192.168.1.5:3001",
        b"devbox.local",
        b"DEVBOX.LOCAL.:3001",
        b"10.0.0.7",
        b"[::2]",
    ):
        assert policy.host_allowed(host), host
    assert not policy.host_allowed(b"other.local")
    assert not policy.host_allowed(b"192.168.1.6")
    # Bound to a name: that name passes.
    assert GuardPolicy.from_lists("devbox.lan", (), ()).host_allowed(b"devbox.lan:3001")


def test_a_wildcard_bind_accepts_ip_literals_but_not_other_names() -> None:
    policy = GuardPolicy.from_lists("0.0.0.0", (), ())
    assert policy.host_allowed(b"192.168.1.5:3001")
    assert policy.host_allowed(b"[fe80::1]:3001")
    assert not policy.host_allowed(b"evil.example:3001")
    assert GuardPolicy.from_lists("::", ("*",), ()).host_allowed(b"evil.example")


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (b"http://127.0.0.1:3001", b"127.0.0.1:3001", True),
        (b"http://LOCALHOST:3001", b"localhost:3001", True),
        (b"http://localhost", b"localhost", True),
        (b"http://localhost:80", b"localhost", True),
        (b"https://example.com", b"example.com", True),
        (b"http://localhost:3001", b"127.0.0.1:3001", False),
        (b"http://127.0.0.1:3002", b"127.0.0.1:3001", False),
        # A Host without a port is on the default port of the scheme the page used.
        (b"https://localhost", b"localhost", True),
        (b"https://localhost", b"localhost:80", False),
        (b"http://evil.example", b"127.0.0.1:3001", False),
        (b"null", b"127.0.0.1:3001", False),
        (b"file://", b"127.0.0.1:3001", False),
        (b"http://127.0.0.1:3001", None, False),
        (b"http://127.0.0.1:3001/path", b"127.0.0.1:3001", False),
    ],
)
def test_same_origin(origin: bytes, host: bytes | None, allowed: bool) -> None:
    assert DEFAULT.origin_allowed(origin, host) is allowed


def test_allowed_origins() -> None:
    policy = GuardPolicy.from_lists(
        "127.0.0.1", (), ("http://localhost:5173/", "https://ui.example", "chrome-extension://abc")
    )
    assert policy.origin_allowed(b"http://localhost:5173", b"127.0.0.1:3001")
    assert policy.origin_allowed(b"https://ui.example:443", b"127.0.0.1:3001")
    assert policy.origin_allowed(b"chrome-extension://ABC", b"127.0.0.1:3001")
    assert not policy.origin_allowed(b"http://localhost:5174", b"127.0.0.1:3001")
    assert not policy.origin_allowed(b"http://ui.example", b"127.0.0.1:3001")
    assert origin_key(b"http://ui.example") == (b"http", b"ui.example", b"80")


@pytest.mark.parametrize(
    ("hosts", "origins", "says"),
    [
        (("http://devbox",), (), "not a host name"),
        (("dev box",), (), "not a host name"),
        ((), ("*",), "any web page"),
        ((), ("null",), "any web page"),
        ((), ("localhost:5173",), "scheme://host"),
        ((), ("http://localhost:5173/app",), "no path"),
    ],
)
def test_bad_allow_list_entries_stop_the_settings_check(
    hosts: tuple[str, ...], origins: tuple[str, ...], says: str
) -> None:
    with pytest.raises(SettingsError, match=says):
        ServerSettings(allowed_hosts=hosts, allowed_origins=origins).check()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"application/json", True),
        (b"Application/JSON; charset=utf-8", True),
        (b"application/merge-patch+json", True),
        (b"application/vnd.api+json;charset=utf-8", True),
        (b"text/plain", False),
        (b"text/plain; charset=application/json", False),
        (b"application/x-www-form-urlencoded", False),
        (b"multipart/form-data; boundary=x", False),
        (b"application/jsonx", False),
        (b"", False),
        (None, False),
    ],
)
def test_json_media_types(value: bytes | None, expected: bool) -> None:
    assert is_json_media_type(value) is expected


def test_settings_from_the_environment() -> None:
    values = env_defaults(
        {
            "CODEX_MANAGER_ALLOWED_HOSTS": "devbox.local, 10.0.0.7 other.lan",
            "CODEX_MANAGER_ALLOWED_ORIGINS": "http://localhost:5173",
            "CODEX_MANAGER_HEADER_TIMEOUT": "2.5",
            "CODEX_MANAGER_MAX_CONNECTIONS": "50",
        }
    )
    settings = ServerSettings(**values)
    settings.check()
    assert settings.allowed_hosts == ("devbox.local", "10.0.0.7", "other.lan")
    assert settings.allowed_origins == ("http://localhost:5173",)
    assert settings.header_timeout == 2.5
    assert settings.max_connections == 50
    with pytest.raises(SettingsError, match="MAX_CONNECTIONS"):
        env_defaults({"CODEX_MANAGER_MAX_CONNECTIONS": "many"})
    with pytest.raises(SettingsError, match="header timeout"):
        ServerSettings(header_timeout=0).check()
    with pytest.raises(SettingsError, match="max connections"):
        ServerSettings(max_connections=0).check()


# ---------------------------------------------------------------- the middleware itself


async def _call(policy: GuardPolicy, scope: dict[str, Any]) -> tuple[list[Message], bool]:
    """Run the middleware over a stub app: (messages sent, whether the app was called)."""
    sent: list[Message] = []
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await guard_middleware(policy)(app)(scope, receive, send)
    return sent, called


def _scope(kind: str = "http", method: str = "POST", **headers: str) -> dict[str, Any]:
    return {
        "type": kind,
        "method": method,
        "path": "/api/x",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_middleware_refuses_before_the_app(anyio_backend: str) -> None:
    cases: list[tuple[dict[str, Any], int | None, str | None]] = [
        (_scope(method="GET", host="evil.example"), 403, "host_not_allowed"),
        (_scope(method="GET", host="127.0.0.1:1", origin="http://evil.example"), None, None),
        (_scope(host="127.0.0.1:1", origin="http://evil.example"), 403, "origin_not_allowed"),
        (_scope(method="DELETE", host="127.0.0.1:1", origin="null"), 403, "origin_not_allowed"),
        (_scope(host="127.0.0.1:1", content_length="2"), 415, "unsupported_media_type"),
        (
            _scope(host="127.0.0.1:1", content_type="text/plain", transfer_encoding="chunked"),
            415,
            "unsupported_media_type",
        ),
        (_scope(host="127.0.0.1:1", content_length="0"), None, None),
        (
            _scope(host="127.0.0.1:1", content_type="application/json", content_length="2"),
            None,
            None,
        ),
        (
            _scope(
                host="127.0.0.1:1",
                origin="http://127.0.0.1:1",
                content_type="application/json",
                content_length="2",
            ),
            None,
            None,
        ),
        (_scope(content_type="application/json", content_length="2"), None, None),  # no Host
    ]
    for scope, status, code in cases:
        sent, called = await _call(DEFAULT, scope)
        if status is None:
            assert called, scope
            assert not sent, (scope, sent)
            continue
        assert not called, scope
        assert sent[0]["status"] == status, (scope, sent)
        body = json.loads(sent[1]["body"])
        assert body["status"] == "error", body
        assert body["code"] == code, body
        assert body["message"], body


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_middleware_refuses_a_websocket_handshake(anyio_backend: str) -> None:
    scope = _scope("websocket", host="127.0.0.1:1", origin="http://evil.example")
    scope["extensions"] = {"websocket.http.response": {}}
    sent, called = await _call(DEFAULT, scope)
    assert not called
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 403
    assert json.loads(sent[1]["body"])["code"] == "origin_not_allowed"
    # A server without the extension: the handshake is refused with a close.
    scope.pop("extensions")
    sent, called = await _call(DEFAULT, scope)
    assert not called
    assert sent == [{"type": "websocket.close", "code": 4403, "reason": "forbidden"}]
    # Same origin, and no Origin at all, pass.
    for headers in ({"origin": "http://127.0.0.1:1"}, {}):
        sent, called = await _call(DEFAULT, _scope("websocket", host="127.0.0.1:1", **headers))
        assert called, headers
        assert not sent, headers


# ---------------------------------------------------------------- logs and JSON depth


def test_tokens_are_redacted() -> None:
    assert redact("/api/stream?token=s3cret") == "/api/stream?token=***"
    assert redact('"WebSocket /api/stream?since=3&token=s3cret&x=1" 101') == (
        '"WebSocket /api/stream?since=3&token=***&x=1" 101'
    )
    assert redact("no token here") == "no token here"
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/api/stream?token=s3cret"), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /api/stream?token=***" [accepted]'


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_json_nesting_depth() -> None:
    assert not nested_too_deep(_nested(MAX_JSON_DEPTH))
    assert nested_too_deep(_nested(MAX_JSON_DEPTH + 1))
    assert nested_too_deep(b'{"a":' * 1000 + b"1" + b"}" * 1000)
    assert nested_too_deep(b'{"value": ' + _nested(1000) + b"}")
    # Brackets inside strings (escaped quotes too) do not count.
    text = json.dumps({"text": '["\\"' * 5000, "more": ["]" * 100]}).encode()
    assert not nested_too_deep(text)
    # Wide is fine, deep is not.
    assert not nested_too_deep(json.dumps([[1, [2]]] * 10_000).encode())


# ---------------------------------------------------------------- the command line


def test_serve_options_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import codex_manager_http.logging_setup as logging_setup
    import codex_manager_http.serve as serve_module
    from codex_manager_cli.main import cli

    seen: list[ServerSettings] = []

    async def fake_serve(settings: ServerSettings, **kwargs: Any) -> None:
        seen.append(settings)

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    monkeypatch.setattr(logging_setup, "configure_logging", lambda level: None)
    for name in ("ALLOWED_HOSTS", "ALLOWED_ORIGINS", "HEADER_TIMEOUT", "MAX_CONNECTIONS"):
        monkeypatch.delenv("CODEX_MANAGER_" + name, raising=False)
    options = ["serve", "--demo", "--allow-host", "devbox.local", "--allow-host", "10.0.0.7"]
    options += ["--allow-origin", "http://localhost:5173", "--header-timeout", "3"]
    options += ["--max-connections", "20"]
    result = CliRunner().invoke(cli, options, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [settings] = seen
    assert settings.allowed_hosts == ("devbox.local", "10.0.0.7")
    assert settings.allowed_origins == ("http://localhost:5173",)
    assert settings.header_timeout == 3
    assert settings.max_connections == 20
    # A bad entry stops the command with a message naming it, before anything starts.
    result = CliRunner().invoke(cli, ["serve", "--allow-origin", "*"])
    assert result.exit_code == 2, result.output
    assert "any web page" in result.output, result.output
    assert len(seen) == 1

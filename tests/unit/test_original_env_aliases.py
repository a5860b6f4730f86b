"""`serve`'s settings from the original Codex Manager's environment variables: each alias,
the precedence (option > CODEX_MANAGER_* > original > default), the opt-in for the generic
names, and bad values named by their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_manager_core.models import Controls
from codex_manager_http.original_env import ALIASES, resolve_settings
from codex_manager_http.serve import manager_config
from codex_manager_http.settings import ServerSettings, SettingsError

OPT_IN = {"CODEX_MANAGER_ORIGINAL_ENV": "true"}
NO_OPTIONS: dict[str, object] = {}


def settings(environ: dict[str, str], **given: object) -> ServerSettings:
    result = ServerSettings(**resolve_settings(given, environ).values)  # type: ignore[arg-type]
    result.check()
    return result


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("HOST", "::1", "host", "::1"),
        ("PORT", "4010", "port", 4010),
        ("DATA_DIR", "/srv/cm", "data_dir", Path("/srv/cm")),
        ("CODEX_HOME", "/srv/codex-home", "codex_home", Path("/srv/codex-home")),
        ("DEFAULT_APPROVAL_POLICY", "on-request", "default_approval_policy", "on-request"),
        ("DEFAULT_SANDBOX_MODE", "workspace-write", "default_sandbox", "workspace-write"),
        ("DEFAULT_NETWORK_ACCESS", "enabled", "default_network_access", "enabled"),
        ("SESSION_DEFAULTS_LOCKED", "true", "defaults_locked", True),
    ],
)
def test_each_alias_sets_its_setting_and_is_named_in_a_note(
    name: str, value: str, field: str, expected: object
) -> None:
    resolved = resolve_settings(NO_OPTIONS, {name: value, **OPT_IN})
    assert resolved.values == {field: expected}
    assert getattr(settings({name: value, **OPT_IN}), field) == expected
    assert resolved.notes == (f"using {name}={value} (the original Codex Manager's variable)",)


def test_without_any_variable_the_defaults_hold_and_nothing_is_said() -> None:
    resolved = resolve_settings(NO_OPTIONS, {})
    assert resolved == resolve_settings(NO_OPTIONS, {"UNRELATED": "x"})
    assert resolved.values == {}
    assert resolved.notes == ()
    assert settings({}) == ServerSettings()


def test_the_generic_names_need_the_opt_in_and_say_so_when_ignored() -> None:
    environ = {"HOST": "build-box", "PORT": "8080", "DATA_DIR": "/tmp/x", "CODEX_HOME": "/c"}
    resolved = resolve_settings(NO_OPTIONS, environ)
    assert resolved.values == {}
    (note,) = resolved.notes
    assert note.startswith("HOST, PORT, DATA_DIR, CODEX_HOME are set but not used")
    assert "CODEX_MANAGER_ORIGINAL_ENV=true" in note
    # Not parsed either: a stray value that is not a port does not stop the server.
    assert resolve_settings(NO_OPTIONS, {"PORT": "abc"}).values == {}
    assert settings({"HOST": "build-box", "PORT": "abc"}).port == 3001


def test_the_session_defaults_need_no_opt_in() -> None:
    environ = {
        "DEFAULT_APPROVAL_POLICY": "never",
        "DEFAULT_SANDBOX_MODE": "danger-full-access",
        "DEFAULT_NETWORK_ACCESS": "enabled",
        "SESSION_DEFAULTS_LOCKED": "true",
    }
    config = manager_config(settings(environ))
    assert config.default_controls == Controls(
        model=None,
        approval_policy="never",
        filesystem_sandbox="danger-full-access",
        network_access="enabled",
    )
    assert config.defaults_locked is True


def test_codex_home_and_data_dir_reach_the_manager_config() -> None:
    environ = {"DATA_DIR": "/srv/cm", "CODEX_HOME": "/srv/ch", **OPT_IN}
    server = settings(environ)
    assert server.data_dir == Path("/srv/cm")
    assert manager_config(server).codex_home == Path("/srv/ch")
    assert manager_config(settings({})).codex_home is None


def test_ours_win_over_the_originals_and_the_option_over_both() -> None:
    environ = {
        **OPT_IN,
        "PORT": "4000",
        "CODEX_MANAGER_PORT": "5000",
        "HOST": "::1",
        "DEFAULT_SANDBOX_MODE": "workspace-write",
        "CODEX_MANAGER_DEFAULT_SANDBOX": "danger-full-access",
        "SESSION_DEFAULTS_LOCKED": "true",
        "CODEX_MANAGER_DEFAULTS_LOCKED": "false",
    }
    resolved = resolve_settings({"port": None, "host": None}, environ)
    assert resolved.values["port"] == 5000
    assert resolved.values["host"] == "::1"
    assert resolved.values["default_sandbox"] == "danger-full-access"
    assert resolved.values["defaults_locked"] is False
    assert "PORT is set but not used: --port / CODEX_MANAGER_PORT wins" in resolved.notes
    assert "using HOST=::1 (the original Codex Manager's variable)" in resolved.notes
    assert settings(environ, port=6000, host="127.0.0.1").port == 6000
    assert settings(environ, port=6000, host="127.0.0.1").host == "127.0.0.1"


def test_an_overridden_alias_is_not_parsed() -> None:
    environ = {**OPT_IN, "PORT": "abc", "DEFAULT_APPROVAL_POLICY": "sometimes"}
    environ["CODEX_MANAGER_DEFAULT_APPROVAL_POLICY"] = "never"
    assert settings(environ, port=4001).port == 4001
    assert settings(environ, port=4001).default_approval_policy == "never"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "abc"}, "PORT=abc: not a port number"),
        ({"PORT": "70000"}, "PORT=70000: not a port number (1-65535)"),
        ({"PORT": "0"}, "PORT=0: not a port number (1-65535)"),
        ({"HOST": "   "}, "HOST=   : empty"),
        (
            {"DEFAULT_APPROVAL_POLICY": "sometimes"},
            "DEFAULT_APPROVAL_POLICY=sometimes: not one of untrusted, on-failure, on-request, never",
        ),
        (
            {"DEFAULT_SANDBOX_MODE": "none"},
            "DEFAULT_SANDBOX_MODE=none: not one of read-only, workspace-write, danger-full-access",
        ),
        (
            {"DEFAULT_NETWORK_ACCESS": "on"},
            "DEFAULT_NETWORK_ACCESS=on: not one of restricted, enabled",
        ),
        ({"SESSION_DEFAULTS_LOCKED": "yes"}, "SESSION_DEFAULTS_LOCKED=yes: not true or false"),
        ({"CODEX_MANAGER_ORIGINAL_ENV": "maybe"}, "CODEX_MANAGER_ORIGINAL_ENV=maybe: not true"),
    ],
)
def test_a_bad_value_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_settings(NO_OPTIONS, {**OPT_IN, **environ})
    assert str(caught.value).startswith(message)


def test_our_default_variables_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="default sandbox must be one of read-only"):
        settings({"CODEX_MANAGER_DEFAULT_SANDBOX": "none"})
    assert settings({"CODEX_MANAGER_CODEX_HOME": "/h"}).codex_home == Path("/h")


def test_an_empty_variable_counts_as_unset() -> None:
    resolved = resolve_settings(NO_OPTIONS, {**OPT_IN, "PORT": "", "SESSION_DEFAULTS_LOCKED": ""})
    assert resolved.values == {}
    assert resolved.notes == ()


def test_every_alias_is_in_the_documented_table() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for alias in ALIASES:
        assert f"| `{alias.name}` | " in docs, alias.name
        assert alias.ours.split(" / ")[-1] in docs, alias.ours

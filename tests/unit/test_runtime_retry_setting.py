"""The serve setting for the automatic retry of a failed runtime reaches the Supervisor's
restart policy (CODEX_MANAGER_RUNTIME_RETRY_INTERVAL; "off" leaves only the restart route)."""

from __future__ import annotations

import pytest

from codex_manager_http.serve import manager_config
from codex_manager_http.settings import ServerSettings, SettingsError, env_defaults

VARIABLE = "CODEX_MANAGER_RUNTIME_RETRY_INTERVAL"


def test_default_is_five_minutes() -> None:
    assert manager_config(ServerSettings()).restart.failed_retry_interval == 300.0


@pytest.mark.parametrize(("raw", "seconds"), [("60", 60.0), ("2.5", 2.5), ("off", None)])
def test_the_variable_sets_it(raw: str, seconds: float | None) -> None:
    values = env_defaults({VARIABLE: raw})
    assert values == {"runtime_retry_interval": seconds}
    settings = ServerSettings(**values)  # type: ignore[arg-type]
    settings.check()
    config = manager_config(settings)
    assert config.restart.failed_retry_interval == seconds
    assert config.restart.max_restarts == 5, "the rest of the policy is the default"


@pytest.mark.parametrize("raw", ["soon", "0.1", "-5"])
def test_bad_values_name_the_setting(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"retry interval|RUNTIME_RETRY_INTERVAL"):
        ServerSettings(**env_defaults({VARIABLE: raw})).check()  # type: ignore[arg-type]

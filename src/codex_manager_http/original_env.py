"""The original Codex Manager's environment variables, accepted by `serve` as aliases.

Precedence, for each setting: the command-line option, then its `CODEX_MANAGER_*` variable,
then the original's variable, then the default. Only variables that mean the same thing in
both are taken (docs/configuration.md lists them, and those that are not taken and why).

`HOST`, `PORT`, `DATA_DIR` and `CODEX_HOME` are names other software sets too (tcsh exports
HOST as the machine's name, PaaS and dev tools set PORT, codex users set CODEX_HOME to their
own `~/.codex`): a stray one must not move the server or share a personal codex home
silently, so these four are taken only with `CODEX_MANAGER_ORIGINAL_ENV=true`. The session
defaults' names are the original's own and are always taken. Every alias used, and every
alias set but not used, is said in one log line at info.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from codex_manager_core.models import APPROVAL_POLICIES, FILESYSTEM_SANDBOXES, NETWORK_ACCESS_VALUES
from codex_manager_http.settings import ENV_PREFIX, SettingsError, env_defaults

OPT_IN = ENV_PREFIX + "ORIGINAL_ENV"
"""Set to true to also take the original's generic names (HOST, PORT, DATA_DIR, CODEX_HOME)."""


def _port(value: str) -> int:
    try:
        port = int(value.strip())
    except ValueError:
        raise ValueError("not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError("not a port number (1-65535)")
    return port


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("empty")
    return value.strip()


def _path(value: str) -> Path:
    return Path(_text(value))


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.strip() not in allowed:
            raise ValueError(f"not one of {', '.join(allowed)}")
        return value.strip()

    return parse


def _true_false(value: str) -> bool:
    # The original takes exactly "true" or "false".
    if value.strip() not in ("true", "false"):
        raise ValueError("not true or false")
    return value.strip() == "true"


@attrs.frozen
class Alias:
    name: str
    """The original's variable."""
    field: str
    """The ServerSettings field it sets."""
    ours: str
    """What wins over it: the option and/or our variable (for messages)."""
    parse: Callable[[str], object]
    generic: bool
    """A name other software sets too: taken only with the opt-in."""


ALIASES: tuple[Alias, ...] = (
    Alias("HOST", "host", "--host / CODEX_MANAGER_HOST", _text, True),
    Alias("PORT", "port", "--port / CODEX_MANAGER_PORT", _port, True),
    Alias("DATA_DIR", "data_dir", "--data-dir / CODEX_MANAGER_DATA_DIR", _path, True),
    Alias("CODEX_HOME", "codex_home", "CODEX_MANAGER_CODEX_HOME", _path, True),
    Alias(
        "DEFAULT_APPROVAL_POLICY",
        "default_approval_policy",
        "CODEX_MANAGER_DEFAULT_APPROVAL_POLICY",
        _choice(APPROVAL_POLICIES),
        False,
    ),
    Alias(
        "DEFAULT_SANDBOX_MODE",
        "default_sandbox",
        "CODEX_MANAGER_DEFAULT_SANDBOX",
        _choice(FILESYSTEM_SANDBOXES),
        False,
    ),
    Alias(
        "DEFAULT_NETWORK_ACCESS",
        "default_network_access",
        "CODEX_MANAGER_DEFAULT_NETWORK_ACCESS",
        _choice(NETWORK_ACCESS_VALUES),
        False,
    ),
    Alias(
        "SESSION_DEFAULTS_LOCKED",
        "defaults_locked",
        "CODEX_MANAGER_DEFAULTS_LOCKED",
        _true_false,
        False,
    ),
)


@attrs.frozen
class Resolved:
    values: dict[str, object]
    """ServerSettings keyword arguments (only the settings given somewhere)."""
    notes: tuple[str, ...]
    """One sentence per original variable used or set but not used (logged at info)."""


def _opted_in(environ: Mapping[str, str]) -> bool:
    value = environ.get(OPT_IN, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise SettingsError(f"{OPT_IN}={environ[OPT_IN]}: not true or false")


def original_env_values(
    environ: Mapping[str, str], *, taken: frozenset[str] = frozenset()
) -> Resolved:
    """The settings from the original's variables in `environ`, except the fields in `taken`
    (set by an option or a `CODEX_MANAGER_*` variable, which win: the alias is then not
    parsed). A bad value raises SettingsError naming the variable."""
    opted_in = _opted_in(environ)
    values: dict[str, object] = {}
    notes: list[str] = []
    idle: list[str] = []
    for alias in ALIASES:
        raw = environ.get(alias.name)
        if raw is None or raw == "":
            continue
        if alias.generic and not opted_in:
            idle.append(alias.name)
            continue
        if alias.field in taken:
            notes.append(f"{alias.name} is set but not used: {alias.ours} wins")
            continue
        try:
            values[alias.field] = alias.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{alias.name}={raw}: {exc}") from None
        notes.append(f"using {alias.name}={raw.strip()} (the original Codex Manager's variable)")
    if idle:
        notes.append(
            f"{', '.join(idle)} {'is' if len(idle) == 1 else 'are'} set but not used: the "
            f"original Codex Manager's HOST, PORT, DATA_DIR and CODEX_HOME are taken only with "
            f"{OPT_IN}=true"
        )
    return Resolved(values, tuple(notes))


def resolve_settings(
    given: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> Resolved:
    """ServerSettings keyword arguments: `given` (command-line options; None means not
    given) over `CODEX_MANAGER_*` over the original's variables."""
    environ = os.environ if environ is None else environ
    ours = env_defaults(environ)
    options = {key: value for key, value in given.items() if value is not None}
    original = original_env_values(environ, taken=frozenset(ours) | frozenset(options))
    return Resolved({**original.values, **ours, **options}, original.notes)

"""Named contexts (servers): the `cmgr context` commands and the file they live in.

A context is a server URL with its token, timeout and API prefix, saved under a name so
`cmgr --context prod sessions list` (or `cmgr context use prod` once) replaces typing
them. The file is `$CODEX_MANAGER_CONFIG`, else `~/.config/codex-manager/cli.toml`;
it holds tokens, so it is written owner-only. A `local` context
(http://127.0.0.1:3001) always exists, as the original's `local` profile.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from codex_manager_client.target import DEFAULT_SERVER, DEFAULT_TIMEOUT, Target
from codex_manager_client.target import env_fields as target_env_fields

LOCAL = "local"
FIELDS = ("server", "token", "timeout", "api_prefix")


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    given = env.get("CODEX_MANAGER_CONFIG")
    if given:
        return Path(given).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "codex-manager" / "cli.toml"


def load(path: Path) -> dict[str, Any]:
    """`{current, contexts: {name: {server, token, timeout, api_prefix}}}`; a missing
    file is the built-in `local` context only. A broken file is a ClickException naming it."""
    data: dict[str, Any] = {}
    if path.exists():
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise click.ClickException(f"cannot read the CLI config {path}: {exc}") from None
    contexts = data.get("contexts")
    if not isinstance(contexts, dict):
        contexts = {}
    contexts.setdefault(LOCAL, {"server": DEFAULT_SERVER})
    current = data.get("current")
    return {
        "current": current if isinstance(current, str) and current in contexts else LOCAL,
        "contexts": contexts,
    }


def save(path: Path, data: dict[str, Any]) -> None:
    """Write the file (owner-only: it holds tokens). JSON strings are TOML strings."""
    lines = [f"current = {json.dumps(data['current'])}", ""]
    for name, fields in sorted(data["contexts"].items()):
        lines.append(f"[contexts.{json.dumps(name)}]")
        for key in FIELDS:
            value = fields.get(key)
            if value is not None:
                lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def context_fields(name: str | None, path: Path) -> tuple[str, dict[str, Any]]:
    """(name, fields) of context `name` (None: the current one)."""
    data = load(path)
    chosen = name or data["current"]
    if chosen not in data["contexts"]:
        known = ", ".join(sorted(data["contexts"]))
        raise click.UsageError(f"no context named {chosen!r} in {path} (known: {known})")
    fields = data["contexts"][chosen]
    if not isinstance(fields, dict):
        raise click.ClickException(f"{path}: context {chosen!r} is not a table")
    found = {key: fields[key] for key in FIELDS if fields.get(key) is not None}
    for key, value in found.items():
        wanted = (int, float) if key == "timeout" else str
        if isinstance(value, bool) or not isinstance(value, wanted):
            kind = "a number of seconds" if key == "timeout" else "a string"
            raise click.ClickException(
                f"{path}: {key} of context {chosen!r} must be {kind}, not {value!r}"
            )
    return chosen, found


def env_fields(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Target fields the environment sets (`codex_manager_client.target.env_fields`);
    a bad value is a usage error."""
    try:
        return target_env_fields(environ)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.group("context")
def context_group() -> None:
    """Named servers (contexts) in the CLI config file."""


@context_group.command("list")
def context_list() -> None:
    """The contexts; `*` marks the current one. Tokens are never printed."""
    path = config_path()
    data = load(path)
    for name, fields in sorted(data["contexts"].items()):
        mark = "*" if name == data["current"] else " "
        if not isinstance(fields, dict):
            click.echo(f"{mark} {name}  (not a table: fix {path})")
            continue
        token = "token set" if fields.get("token") else "no token"
        timeout = fields.get("timeout", DEFAULT_TIMEOUT)
        click.echo(f"{mark} {name}  {fields.get('server', DEFAULT_SERVER)}  {token}  {timeout:g}s")


@context_group.command("use")
@click.argument("name")
def context_use(name: str) -> None:
    """Make NAME the current context."""
    path = config_path()
    data = load(path)
    if name not in data["contexts"]:
        raise click.UsageError(f"no context named {name!r} (add it with `cmgr context set`)")
    data["current"] = name
    save(path, data)
    click.echo(f"current context: {name}")


@context_group.command("set")
@click.argument("name")
@click.option("--server", help="The server's base URL (without /api).")
@click.option("--token", help="Its bearer token ('' removes it).")
@click.option("--timeout", type=float, help="Per-request timeout in seconds.")
@click.option("--api-prefix", help="The API prefix (default /api).")
def context_set(
    name: str, server: str | None, token: str | None, timeout: float | None, api_prefix: str | None
) -> None:
    """Create or update context NAME (fields not given are kept)."""
    path = config_path()
    data = load(path)
    fields = dict(data["contexts"].get(name) or {})
    given = {"server": server, "token": token, "timeout": timeout, "api_prefix": api_prefix}
    fields.update({key: value for key, value in given.items() if value is not None})
    if fields.get("token") == "":
        del fields["token"]
    try:
        Target(**{key: fields[key] for key in FIELDS if key in fields})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    data["contexts"][name] = fields
    save(path, data)
    click.echo(f"context {name} saved in {path}")


@context_group.command("delete")
@click.argument("name")
def context_delete(name: str) -> None:
    """Remove context NAME (the current one falls back to `local`)."""
    path = config_path()
    data = load(path)
    if name == LOCAL:
        raise click.UsageError("the local context is built in and cannot be deleted")
    if name not in data["contexts"]:
        raise click.UsageError(f"no context named {name!r}")
    del data["contexts"][name]
    if data["current"] == name:
        data["current"] = LOCAL
    save(path, data)
    click.echo(f"context {name} deleted")

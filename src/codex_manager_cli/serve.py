"""`codex-manager serve`: the HTTP/WebSocket server as a command (the click adapter of
`codex_manager_http.serve`; everything of the server is imported inside the command)."""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Any

import click


@click.command()
@click.option("--host", help="Address to bind (default 127.0.0.1; anything else needs a token).")
@click.option("--port", type=int, help="Port (default 3001; 0 picks a free one).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state lives: the SQLite store, the runtime's CODEX_HOME, logs (default .data).",
)
@click.option("--codex-bin", help="The codex binary (default: $CODEX_BIN, else the bundled one).")
@click.option("--token", help="Require this bearer token on every route and the WebSocket.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the bearer token from this file.",
)
@click.option(
    "--demo", is_flag=True, default=None, help="Use a scripted offline model (no account needed)."
)
@click.option(
    "--auto-demo",
    is_flag=True,
    help="Use the demo model only when no Codex credentials are found (what `make run` does).",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level."
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also accept this Host name (repeatable; '*': any). Loopback names always pass.",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Let web pages from this origin (scheme://host[:port]) call the API (repeatable).",
)
@click.option(
    "--header-timeout",
    type=float,
    metavar="SECONDS",
    help="Close a connection whose request headers take longer (default 10).",
)
@click.option(
    "--max-connections",
    type=int,
    metavar="N",
    help="Answer 503 above this many open connections (default 1000).",
)
def serve(**options: Any) -> None:
    """Run the HTTP/WebSocket server (the original Codex Manager's /api).

    Options default to CODEX_MANAGER_* environment variables, then to the original Codex
    Manager's (docs/configuration.md).
    SIGINT/SIGTERM shut it down gracefully, also during start-up.
    """
    # From the first instant: a signal during the imports and checks below is remembered
    # and ends the start-up cleanly (exit 0) instead of killing the process.
    early: list[int] = []
    previous = {
        number: signal.signal(number, lambda received, _frame: early.append(received))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        _serve(early, **options)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _serve(
    early: list[int],
    *,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    codex_bin: str | None,
    token: str | None,
    token_file: Path | None,
    demo: bool | None,
    auto_demo: bool,
    log_level: str | None,
    allow_hosts: tuple[str, ...],
    allow_origins: tuple[str, ...],
    header_timeout: float | None,
    max_connections: int | None,
) -> None:
    import logging

    import anyio

    from codex_manager_core.errors import DataDirLocked, DataDirUnusable, StoreUnavailable
    from codex_manager_core.ports.store import StoreCorrupt
    from codex_manager_http.logging_setup import announce, configure_logging
    from codex_manager_http.original_env import resolve_settings
    from codex_manager_http.serve import StartupError, choose_demo
    from codex_manager_http.serve import serve as run
    from codex_manager_http.settings import ServerSettings, SettingsError, read_token_file

    try:
        given = {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "codex_bin": codex_bin,
            "demo": demo,
            "log_level": log_level,
            "allowed_hosts": allow_hosts or None,
            "allowed_origins": allow_origins or None,
            "header_timeout": header_timeout,
            "max_connections": max_connections,
        }
        resolved = resolve_settings(given)
        values: dict[str, Any] = dict(resolved.values)
        if token is not None and token_file is not None:
            raise SettingsError("give --token or --token-file, not both")
        if token is not None:
            values["token"] = token
        elif token_file is not None:
            values["token"] = read_token_file(token_file)
        settings = ServerSettings(**values)
        use_demo, why = choose_demo(settings, auto=auto_demo)
        if use_demo != settings.demo:
            settings = ServerSettings(**{**values, "demo": use_demo})
        settings.check()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    configure_logging(settings.log_level)
    for note in resolved.notes:
        logging.getLogger("codex_manager_http.original_env").info(note)
    announce(why)
    try:
        anyio.run(functools.partial(run, settings, say=announce, signalled=early))
    except (StartupError, DataDirLocked, DataDirUnusable, StoreUnavailable, StoreCorrupt) as exc:
        # One line naming the problem, no traceback; exit status 1.
        raise click.ClickException(str(exc)) from None

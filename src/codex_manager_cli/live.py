"""PLACEHOLDER until helper LIVE's module is merged (the lead replaces this file): the
live commands' names as seams.md fixes them, each failing with "not built yet"."""

from __future__ import annotations

import click

from codex_manager_client.target import Target

NOT_BUILT = "live commands are not built yet (helper LIVE's codex_manager_cli.live)"


def follow_turn(
    target: Target,
    session_id: str,
    turn_id: str,
    *,
    since: int | None,
    output: str,
    no_input: bool,
    timeout: float | None,
) -> int:
    raise click.ClickException(NOT_BUILT)


def _not_built() -> None:
    raise click.ClickException(NOT_BUILT)


stream_command = click.Command("events", callback=_not_built, help="Follow the live event stream.")
inbox_command = click.Command("inbox", callback=_not_built, help="Pending requests, live.")
jobs_wait_command = click.Command("wait", callback=_not_built, help="Wait for a job to end.")

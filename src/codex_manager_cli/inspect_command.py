"""`cmgr sessions inspect SESSION_ID`: the original CLI's client-side look at a session:
its record and the tail of its transcript, filtered and cut short, so a person (or a
worker) sees what happened without paging through the whole transcript. It has no
route of its own: it reads `GET /sessions/{id}` and filters here."""

from __future__ import annotations

from typing import Any

import click

from codex_manager_cli.commands import output_options


@click.command("inspect")
@click.argument("session_id")
@click.option("--type", "types", multiple=True, help="Only entries of this type (repeatable).")
@click.option("--status", "statuses", multiple=True, help="Only entries with this status.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["user", "assistant", "system"]))
@click.option("--contains", help="Only entries whose content contains this text.")
@click.option(
    "--transcript-tail",
    default=12,
    show_default=True,
    type=click.IntRange(min=0),
    help="Keep the last N.",
)
@click.option(
    "--content-chars",
    default=400,
    show_default=True,
    type=click.IntRange(min=1),
    help="Cut content here.",
)
@click.pass_context
def inspect_command(
    ctx: click.Context,
    session_id: str,
    types: tuple[str, ...],
    statuses: tuple[str, ...],
    roles: tuple[str, ...],
    contains: str | None,
    transcript_tail: int,
    content_chars: int,
) -> None:
    """A session and the last entries of its transcript (filtered, content cut short)."""
    from codex_manager_cli import exits, output
    from codex_manager_cli.bindings import build_request
    from codex_manager_cli.commands import cli_context
    from codex_manager_cli.route_table import BINDINGS
    from codex_manager_cli.runner import fail, run_request

    cli = cli_context(ctx)
    get = next(binding for binding in BINDINGS if binding.command == ("sessions", "get"))
    try:
        path, _, _ = build_request(get, {"sessionId": session_id}, {}, None)
    except ValueError as exc:
        raise click.exceptions.Exit(fail(cli, exc)) from None
    code, answer = run_request(cli, "sessions inspect", "GET", path, quiet=True)
    if code != exits.OK or answer is None or not isinstance(answer.body, dict):
        raise click.exceptions.Exit(code)
    entries = [
        _cut(entry, content_chars)
        for entry in answer.body.get("transcript") or []
        if isinstance(entry, dict)
        and (not types or entry.get("type") in types)
        and (not statuses or entry.get("status") in statuses)
        and (not roles or entry.get("role") in roles)
        and (contains is None or contains in str(entry.get("content", "")))
    ]
    kept = entries[-transcript_tail:] if transcript_tail else []
    view = {
        "session": answer.body.get("session"),
        "transcript": {"matched": len(entries), "shown": len(kept), "entries": kept},
    }
    if cli.output == "table":
        click.echo(output.fields(view["session"]), nl=False)
        click.echo(f"\ntranscript: {len(kept)} of {len(entries)} matching entries")
        columns = ("turnId", "role", "type", "status", "content")
        output.render(kept, "table", columns=columns)
    else:
        output.render(view, cli.output, rows=None)


def _cut(entry: dict[str, Any], limit: int) -> dict[str, Any]:
    content = entry.get("content")
    if isinstance(content, str) and len(content) > limit:
        return {**entry, "content": content[:limit] + "…", "contentChars": len(content)}
    return entry


inspect_command.params.extend(output_options())

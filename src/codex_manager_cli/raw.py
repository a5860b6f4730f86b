"""`cmgr api request`: any request, for what no command covers (the original's raw
fallback). Same target, output and exit codes as the route commands."""

from __future__ import annotations

import click

from codex_manager_cli.bindings import parse_json_argument
from codex_manager_cli.commands import output_options
from codex_manager_cli.context import CliContext


@click.group("api")
def api_group() -> None:
    """Raw API requests."""


@api_group.command("request")
@click.option("--method", "-X", default="GET", show_default=True, help="HTTP method.")
@click.option("--path", required=True, help="The path after the API prefix, e.g. /sessions.")
@click.option(
    "--query", "queries", multiple=True, metavar="K=V", help="Query parameter (repeatable)."
)
@click.option("--body", metavar="JSON|@FILE", help="JSON body.")
@click.option(
    "--header", "headers", multiple=True, metavar="K:V", help="Extra header (repeatable)."
)
@click.option(
    "--allow-status",
    metavar="200,404",
    help="Statuses that count as success (exit 0 and an ok envelope).",
)
@click.pass_context
def api_request(
    ctx: click.Context,
    method: str,
    path: str,
    queries: tuple[str, ...],
    body: str | None,
    headers: tuple[str, ...],
    allow_status: str | None,
) -> None:
    """Send one request: `cmgr api request --path /sessions --query limit=5` (the path
    after the API prefix; a path that starts with the prefix is taken as the same)."""
    from codex_manager_cli.commands import cli_context
    from codex_manager_cli.main import parse_header
    from codex_manager_cli.runner import run_request

    cli = cli_context(ctx)
    query: dict[str, list[str]] = {}
    for item in queries:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--query {item!r} is not K=V")
        query.setdefault(key, []).append(value)
    try:
        allow = tuple(int(part) for part in (allow_status or "").split(",") if part.strip())
    except ValueError:
        raise click.UsageError(
            f"--allow-status {allow_status!r} is not a list of statuses"
        ) from None
    try:
        parsed = parse_json_argument(body, "--body") if body is not None else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    extra = dict(parse_header(item) for item in headers)
    route = "/" + path.lstrip("/") if path.strip("/") else ""
    prefix = _prefix_of(cli)
    if prefix and (route == prefix or route.startswith(prefix + "/")):
        route = route[len(prefix) :]  # `--path /api/sessions` means `/sessions`
    code, _ = run_request(
        cli,
        "api request",
        method.upper(),
        route,
        query=query,
        body=parsed,
        headers=extra,
        allow=allow,
        allow_plain=True,
    )
    raise click.exceptions.Exit(code)


def _prefix_of(cli: CliContext) -> str:
    """The API prefix without starting an embedded server for it (it is always /api)."""
    return "/api" if cli.data_dir is not None else cli.target.api_prefix


api_request.params.extend(output_options())

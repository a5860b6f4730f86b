"""The CLI's live commands: `sessions send --wait` (through `follow_turn`), `stream events`,
`approvals inbox`, `jobs wait`. They follow the server's event stream instead of polling.

Only click is imported at the top: the group wiring imports this module to add the
commands, and start-up must stay fast. The work (remote client, anyio) is in `live_ops`,
imported when a command runs. A command gets its server, output format and `--no-input`
from the click context object (`codex_manager_cli.context.CliContext`); without one (a
command invoked on its own, as in tests) from the environment.

Exit codes: the CLI's table (`exits.py`, docs/cli.md): 0 completed; an error is its code
(unreachable 6, not found 3, ...) with its message on stderr; 7 the wait timed out (the
turn or job goes on); 9 the turn or job failed; 10 interrupted / canceled; 11 an approval
or a question waits for a decision and `--no-input` was given.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

from codex_manager_cli import exits

if TYPE_CHECKING:
    from codex_manager_cli.live_output import Printer
    from codex_manager_client.target import Target

EXIT_OK = exits.OK
EXIT_FAILED = exits.OUTCOME_FAILED
EXIT_CANCELED = exits.OUTCOME_CANCELED
EXIT_TIMEOUT = exits.TIMEOUT
EXIT_NEEDS_DECISION = exits.NEEDS_DECISION


def _settings(ctx: click.Context) -> tuple[Target, str, bool]:
    """(target, output, no_input) of the `CliContext`, else of the environment (a
    command invoked on its own): the output then depends on the terminal."""
    from codex_manager_cli.context import CliContext

    found = ctx.find_object(CliContext)
    if found is not None:
        return found.target, found.output, found.no_input
    from codex_manager_client.target import Target

    output = "table" if sys.stdout.isatty() else "json"
    return Target.from_env(), output, not sys.stdin.isatty()


def _run(work: Callable[[], Awaitable[int]], ctx: click.Context | None = None) -> int:
    """Run `work` on anyio; an error is its exit code and its message on stderr (the
    CLI's `runner.fail`, in the --json envelope when asked, with a `CliContext`)."""
    import anyio

    try:
        return anyio.run(work)
    except Exception as exc:
        from codex_manager_cli.context import CliContext

        cli = ctx.find_object(CliContext) if ctx is not None else None
        if cli is not None:
            from codex_manager_cli.runner import fail

            return fail(cli, exc)
        known = exits.for_exception(exc)
        if known is None:
            raise
        click.echo(f"error: {known[2]}", err=True)
        return known[0]


def _printer(output: str) -> Printer:
    from codex_manager_cli.live_output import Printer

    return Printer(output)


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
    """Print turn `turn_id`'s reply as it streams, prompt for the approvals it raises
    (unless `no_input`: then print the first and how to decide it, exit 6), then its
    outcome; the exit code. `since`: a ledger seq from before the turn started (without
    it the session's thread is replayed from the start to find the turn)."""
    from codex_manager_cli import live_ops

    async def work() -> int:
        return await live_ops.follow_turn(
            target,
            session_id,
            turn_id,
            since=since,
            printer=_printer(output),
            no_input=no_input,
            timeout=timeout,
        )

    return _run(work)


def _split(values: tuple[str, ...]) -> list[str] | None:
    found = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return found or None


@click.command("events")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep following live events; --no-follow prints the stored events and exits.",
)
@click.option("--since", type=click.IntRange(min=0), help="Start after this ledger seq.")
@click.option(
    "--part",
    type=click.IntRange(min=0),
    help="With --since: event SINCE was received up to this part (resume exactly).",
)
@click.option("--thread-id", "thread_ids", multiple=True, help="Only this thread (repeatable).")
@click.option("--types", multiple=True, help="Event type prefixes, comma-separated (repeatable).")
@click.option("--limit", type=click.IntRange(min=0), help="Stop after this many frames.")
@click.pass_context
def stream_command(
    ctx: click.Context,
    follow: bool,
    since: int | None,
    part: int | None,
    thread_ids: tuple[str, ...],
    types: tuple[str, ...],
    limit: int | None,
) -> None:
    """Print the event stream: one line per frame (table), or the frames as JSON lines.

    Reconnects and resumes by itself (no frame lost or repeated). `-o json` prints JSON
    lines too.
    """
    if part is not None and since is None:
        raise click.UsageError("--part needs --since")
    if not follow and part is not None:
        raise click.UsageError("--part resumes a followed stream: use it without --no-follow")
    if not follow and len(thread_ids) > 1:
        raise click.UsageError("--no-follow takes at most one --thread-id")
    target, output, _ = _settings(ctx)
    from codex_manager_cli import live_ops

    async def work() -> int:
        return await live_ops.print_stream(
            target,
            _printer(output),
            follow=follow,
            since=since,
            part=part,
            thread_ids=list(thread_ids) or None,
            types=_split(types),
            limit=limit,
        )

    ctx.exit(_run(work, ctx))


@click.command("inbox")
@click.pass_context
def inbox_command(ctx: click.Context) -> None:
    """Pending approval requests of every session; then decide them one by one
    (accept, session, decline, cancel, skip, quit). With --no-input: list only."""
    target, output, no_input = _settings(ctx)
    from codex_manager_cli import live_requests

    async def work() -> int:
        return await live_requests.inbox(target, _printer(output), no_input=no_input)

    ctx.exit(_run(work, ctx))


@click.command("wait")
@click.argument("job_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Give up after this many seconds (exit 5; the job goes on).",
)
@click.pass_context
def jobs_wait_command(ctx: click.Context, job_id: str, timeout: float | None) -> None:
    """Wait for a job to end, showing its progress on stderr; the exit code says how it
    ended: 0 completed, 3 failed, 4 canceled, 5 timed out."""
    target, output, _ = _settings(ctx)
    from codex_manager_cli import live_ops

    async def work() -> int:
        return await live_ops.wait_for_job(target, job_id, _printer(output), timeout=timeout)

    ctx.exit(_run(work, ctx))


__all__: list[Any] = [
    "follow_turn",
    "inbox_command",
    "jobs_wait_command",
    "stream_command",
]

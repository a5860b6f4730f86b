"""The CLI's live commands: `sessions send --wait` (through `follow_turn`), `stream events`,
`approvals inbox`, `jobs wait`. They follow the server's event stream instead of polling.

Only click is imported at the top: the group wiring imports this module to add the
commands, and start-up must stay fast. The work (remote client, anyio) is in `live_ops`,
imported when a command runs. A command gets its server, output format and `--no-input`
from the click context object (`codex_manager_cli.context.CliContext`); without one (a
command invoked on its own, as in tests) from the environment.

Exit codes (docs/cli.md "Live work"): 0 completed; 1 an error (its message on stderr);
2 bad usage; 3 the turn or job failed; 4 it was interrupted / canceled; 5 the wait timed
out (it goes on); 6 an approval waits for a decision and `--no-input` was given.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from codex_manager_cli.live_output import Printer
    from codex_manager_client.target import Target

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FAILED = 3
EXIT_CANCELED = 4
EXIT_TIMEOUT = 5
EXIT_NEEDS_DECISION = 6


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


def _run(work: Callable[[], Awaitable[int]]) -> int:
    """Run `work` on anyio; a client or server error is its message on stderr, exit 1."""
    import anyio

    from codex_manager_core.errors import CodexManagerError

    try:
        return anyio.run(work)
    except CodexManagerError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR


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


def ledger_head(target: Target) -> int:
    """The server's ledger head: read it before sending a message and pass it to
    `follow_turn` as `since`, so that the whole turn is shown without replaying the
    session's history. An error is `CodexManagerError` (the caller prints it)."""
    import anyio

    from codex_manager_client.stream import ledger_head as read_head

    return anyio.run(read_head, target)


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

    ctx.exit(_run(work))


@click.command("inbox")
@click.pass_context
def inbox_command(ctx: click.Context) -> None:
    """Pending approval requests of every session; then decide them one by one
    (accept, session, decline, cancel, skip, quit). With --no-input: list only."""
    target, output, no_input = _settings(ctx)
    from codex_manager_cli import live_requests

    async def work() -> int:
        return await live_requests.inbox(target, _printer(output), no_input=no_input)

    ctx.exit(_run(work))


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

    ctx.exit(_run(work))


__all__: list[Any] = [
    "follow_turn",
    "inbox_command",
    "jobs_wait_command",
    "ledger_head",
    "stream_command",
]

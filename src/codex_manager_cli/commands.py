"""The route commands, generated from the binding table (route_table.py).

`add_route_commands(root)` builds the group tree from the bindings' command paths and one
click command per binding: the path parameters become positional arguments, each `Opt`
an option, a route with a body gets `--body JSON|@file`. The live commands (LIVE's
`codex_manager_cli.live`) are attached lazily: `cmgr sessions list` never imports them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import click

from codex_manager_cli import exits
from codex_manager_cli.bindings import Binding, Opt, argument_name, build_request
from codex_manager_cli.context import OUTPUT_FORMATS, CliContext
from codex_manager_cli.route_table import BINDINGS

GROUP_HELP = {
    "system": "Server and runtime information.",
    "models": "Models.",
    "apps": "Apps and connectors.",
    "skills": "Local and remote skills.",
    "mcp": "MCP servers.",
    "account": "The codex account.",
    "config": "Codex configuration.",
    "runtime": "The codex runtime: one-off commands, restart.",
    "feedback": "Feedback to Codex.",
    "agents": "Agent extensions.",
    "orchestrator": "The job queue.",
    "jobs": "The job queue (alias of `orchestrator jobs`).",
    "projects": "Projects.",
    "sessions": "Sessions, their turns, controls, settings and transcript.",
    "approvals": "Approval requests.",
    "tool-input": "Tool-input (user input) requests.",
    "tool-calls": "Dynamic tool calls.",
    "stream": "The live event stream.",
    "events": "The durable event ledger.",
    "metrics": "Prometheus metrics.",
}

#: (group path, command name) -> attribute of codex_manager_cli.live
LIVE_COMMANDS: dict[tuple[tuple[str, ...], str], str] = {
    (("stream",), "events"): "stream_command",
    (("stream",), "follow"): "stream_command",
    (("approvals",), "inbox"): "inbox_command",
    (("orchestrator", "jobs"), "wait"): "jobs_wait_command",
    (("jobs",), "wait"): "jobs_wait_command",
}


class Group(click.Group):
    """A group whose subcommands may be made only when used: `lazy` names live commands
    (imported from codex_manager_cli.live), `builders` make a route group from the
    table. `cmgr sessions list` builds the sessions group only, and never imports the
    live commands; --help lists everything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}
        self.builders: dict[str, Callable[[], click.Command]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy, *self.builders})

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of --help, without building the route groups to read their help."""
        rows = []
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in self.builders and name not in self.commands:
                rows.append((name, GROUP_HELP.get(name, "")))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            if cmd_name in self.builders:
                self.commands[cmd_name] = self.builders[cmd_name]()
            elif cmd_name in self.lazy:
                live = importlib.import_module("codex_manager_cli.live")
                command: click.Command = getattr(live, self.lazy[cmd_name])
                self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)


def _type(opt: Opt) -> Any:
    if opt.choices:
        return click.Choice(opt.choices)
    return {"int": click.INT, "float": click.FLOAT}.get(opt.kind, click.STRING)


def _option(opt: Opt) -> click.Option:
    dest = "opt_" + opt.name.replace("-", "_")
    required = " (required)" if opt.required else ""
    if opt.kind == "flag":
        return click.Option([f"--{opt.name}", dest], is_flag=True, help=opt.help)
    if opt.kind == "bool":
        return click.Option(
            [f"--{opt.name}/--no-{opt.name}", dest], default=None, help=opt.help + required
        )
    metavar = {"json": "JSON|@FILE", "text": "TEXT|@FILE"}.get(opt.kind)
    return click.Option(
        [f"--{opt.name}", dest],
        type=_type(opt),
        multiple=opt.multiple,
        metavar=metavar,
        help=opt.help + required,
    )


def output_options() -> list[click.Parameter]:
    """`-o` and `--json` also after the command (`cmgr sessions list -o table`)."""
    return [
        click.Option(
            ["-o", "--output", "local_output"],
            type=click.Choice(OUTPUT_FORMATS),
            expose_value=False,
            callback=_set_output,
            help="table | json | jsonl (also a global option).",
        ),
        click.Option(
            ["--json", "local_json"],
            is_flag=True,
            expose_value=False,
            callback=_set_envelope,
            help="The original's envelope (also a global option).",
        ),
    ]


def _set_output(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        cli_context(ctx).output = value  # type: ignore[assignment]  # one of OUTPUT_FORMATS


def _set_envelope(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        found = cli_context(ctx)
        found.json_envelope = True
        if found.output == "table":
            found.output = "json"


def cli_context(ctx: click.Context) -> CliContext:
    """The root group's context object (a default one when a command runs on its own)."""
    found = ctx.find_object(CliContext)
    if found is None:
        found = ctx.ensure_object(CliContext)
    return found


def route_command(binding: Binding) -> click.Command:
    """The click command of one binding."""
    params: list[click.Parameter] = [
        click.Argument([argument_name(name)], metavar=argument_name(name).upper())
        for name in binding.arguments
    ]
    if binding.rest is not None:
        params.append(click.Argument(["rest"], nargs=-1, metavar=binding.rest.upper() + "..."))
    params.extend(_option(opt) for opt in binding.options)
    if binding.body:
        params.append(
            click.Option(
                ["--body"],
                metavar="JSON|@FILE",
                help="The whole JSON body; the options above set fields on top of it.",
            )
        )
    if binding.command == ("sessions", "send"):
        params.append(click.Option(["--wait"], is_flag=True, help="Follow the turn to its end."))
        params.append(
            click.Option(
                ["--wait-timeout"],
                type=float,
                metavar="SECONDS",
                help="Give up waiting after this.",
            )
        )

    params.extend(output_options())

    def callback(**kwargs: Any) -> None:
        ctx = click.get_current_context()
        raise click.exceptions.Exit(invoke(cli_context(ctx), binding, kwargs))

    return click.Command(
        binding.command[-1],
        params=params,
        callback=callback,
        help=binding.help,
        short_help=binding.help,
    )


def invoke(cli: CliContext, binding: Binding, kwargs: dict[str, Any]) -> int:
    """Run one binding with its parsed click values; the exit code."""
    from codex_manager_cli.bindings import parse_json_argument
    from codex_manager_cli.runner import fail, run_request

    arguments = {name: kwargs[argument_name(name)] for name in binding.arguments}
    values = {opt.name: kwargs.get("opt_" + opt.name.replace("-", "_")) for opt in binding.options}
    try:
        body = parse_json_argument(kwargs["body"], "--body") if kwargs.get("body") else None
        path, query, body = build_request(
            binding, arguments, values, body, tuple(kwargs.get("rest") or ())
        )
    except ValueError as exc:
        return fail(cli, exc)
    wait = bool(kwargs.get("wait"))
    code, answer = run_request(
        cli,
        binding.name,
        binding.method,
        path,
        query=query,
        body=body,
        allow=binding.allow,
        rows=binding.rows,
        columns=binding.columns,
        quiet=wait,
    )
    if not wait or answer is None or code != exits.OK:
        return code
    turn_id = answer.body.get("turnId") if isinstance(answer.body, dict) else None
    if not isinstance(turn_id, str):
        return fail(cli, ValueError(f"the server's answer names no turn: {answer.body!r}"))
    # The answer's `sinceSeq`: the ledger seq before the turn started, so following from it
    # misses none of the turn's events (None from an older server: follow_turn then replays
    # the session's thread and shows only this turn).
    since = answer.body.get("sinceSeq")
    from codex_manager_cli import live

    return live.follow_turn(
        cli.target,
        arguments["sessionId"],
        turn_id,
        since=since if isinstance(since, int) else None,
        output=cli.output,
        no_input=cli.no_input,
        timeout=kwargs.get("wait_timeout"),
    )


def add_route_commands(root: Group) -> None:
    """Every binding's command, and the live commands, under `root`: one builder per top
    group (run when the group is first used)."""
    names = {binding.command[0] for binding in BINDINGS} | {"jobs"}
    names |= {path[0] for path, _ in LIVE_COMMANDS if path}
    for name in names:
        root.builders[name] = functools.partial(build_group, name)


def _stream_group() -> Group:
    """`cmgr stream [--follow] [--since N] ...` is itself the stream command (as the issue's
    users type it); `stream events` / `stream follow` are the same command by name."""
    live = importlib.import_module("codex_manager_cli.live")
    command: click.Command = live.stream_command

    def callback(**params: Any) -> Any:
        ctx = click.get_current_context()
        if ctx.invoked_subcommand is None:
            return ctx.invoke(command, **params)
        return None

    return Group(
        "stream",
        help=f"{GROUP_HELP['stream']} Without a subcommand: `stream events`.",
        params=list(command.params),
        callback=callback,
        invoke_without_command=True,
    )


def build_group(name: str) -> click.Command:
    """Top group `name` with every command of the table under it (`jobs`: the
    `orchestrator jobs` commands) and its live commands."""
    source = ("orchestrator", "jobs") if name == "jobs" else (name,)
    help_text = GROUP_HELP.get(name) or f"{name} commands."
    top = _stream_group() if name == "stream" else Group(name, help=help_text)
    groups: dict[tuple[str, ...], Group] = {source: top}

    def group(path: tuple[str, ...]) -> Group:
        if path not in groups:
            made = Group(path[-1], help=GROUP_HELP.get(path[-1]) or f"{path[-1]} commands.")
            group(path[:-1]).add_command(made)
            groups[path] = made
        return groups[path]

    for binding in BINDINGS:
        if binding.kind == "http" and binding.command[: len(source)] == source:
            group(binding.command[:-1]).add_command(route_command(binding))
    for (path, command), attribute in LIVE_COMMANDS.items():
        if name == "jobs":
            if path == ("jobs",):
                top.lazy[command] = attribute
        elif path[0] == name:
            group(path).lazy[command] = attribute
    if name == "sessions":  # client-side, no route of its own (the original's)
        from codex_manager_cli.inspect_command import inspect_command

        top.add_command(inspect_command)
    return top

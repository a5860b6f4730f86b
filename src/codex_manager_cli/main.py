"""The click group behind the `codex-manager` and `cmgr` console scripts: the global
options (where the server is, how to print) resolved once into a `CliContext`.

Start-up is on every invocation's critical path: this module imports click and
the client's Target only; each command imports what it needs when it runs.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

import click

from codex_manager_cli import exits
from codex_manager_cli.commands import Group
from codex_manager_cli.context import OUTPUT_FORMATS, CliContext


def main() -> None:
    """The console script. Start-up imports allocate many long-lived objects and would
    trigger dozens of pointless garbage collections: collection stays off until the
    command has started (`serve` turns it back on once it listens)."""
    gc.disable()
    try:
        cli()
    except BrokenPipeError:
        # The reader went away (`cmgr ... | head`): not an error of ours; stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(exits.FAILURE)
    finally:
        gc.enable()


def parse_header(item: str) -> tuple[str, str]:
    """`K:V` (or `K=V`) as a header pair."""
    for sep in (":", "="):
        key, found, value = item.partition(sep)
        if found and key.strip():
            return key.strip(), value.strip()
    raise click.UsageError(f"header {item!r} is not K:V")


RBAC_HEADERS = {
    "rbac_token": "x-codex-rbac-token",
    "role": "x-codex-role",
    "actor": "x-codex-actor",
}


@click.group(
    cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="codex-manager", prog_name="codex-manager")
@click.option(
    "--server",
    "--base-url",
    "server",
    metavar="URL",
    help="Server base URL ($CODEX_MANAGER_SERVER).",
)
@click.option("--token", "--bearer", "token", help="Bearer token ($CODEX_MANAGER_TOKEN).")
@click.option("--timeout", type=float, metavar="SECONDS", help="Per-request timeout (default 30).")
@click.option(
    "--timeout-ms", type=int, metavar="MS", help="The same in milliseconds (the original's)."
)
@click.option("--api-prefix", metavar="PREFIX", help="API prefix (default /api).")
@click.option(
    "--header",
    "--headers",
    "headers",
    multiple=True,
    metavar="K:V",
    help="Extra header (repeatable).",
)
@click.option("--rbac-token", help="Extension RBAC secret (x-codex-rbac-token).")
@click.option("--role", help="Extension RBAC role (x-codex-role).")
@click.option("--actor", help="Extension RBAC actor (x-codex-actor).")
@click.option("--context", "--profile", "context_name", metavar="NAME", help="A named context.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run against an embedded server on this data directory instead of a remote one.",
)
@click.option("--demo", is_flag=True, default=None, help="With --data-dir: the offline demo model.")
@click.option(
    "-o", "--output", type=click.Choice(OUTPUT_FORMATS), help="table (TTY default) | json | jsonl."
)
@click.option(
    "--json",
    "json_envelope",
    is_flag=True,
    help="The original's {ok, command, request, response} envelope.",
)
@click.option("--no-input", is_flag=True, help="Never prompt (implied when stdin is not a TTY).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Print each request and answer status on stderr."
)
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """A local-first control plane for the Codex runtime (codex app-server).

    Commands talk to a server: --server URL (or $CODEX_MANAGER_SERVER, or a context made
    with `cmgr context set`), or --data-dir DIR for one started in-process. Exit codes:
    docs/cli.md.
    """
    ctx.obj = build_context(ctx, **options)


def build_context(
    ctx: click.Context,
    *,
    server: str | None,
    token: str | None,
    timeout: float | None,
    timeout_ms: int | None,
    api_prefix: str | None,
    headers: tuple[str, ...],
    rbac_token: str | None,
    role: str | None,
    actor: str | None,
    context_name: str | None,
    data_dir: Path | None,
    demo: bool | None,
    output: str | None,
    json_envelope: bool,
    no_input: bool,
    verbose: bool,
) -> CliContext:
    """Flags over a named `--context` over the environment over the current context."""
    from codex_manager_cli import contexts
    from codex_manager_client.target import DEFAULT_TIMEOUT, Target

    path = contexts.config_path()
    chosen, fields = contexts.context_fields(context_name, path)
    if context_name is None:
        fields.update(contexts.env_fields())
    if timeout_ms is not None:
        fields["timeout"] = timeout_ms / 1000
    given = {"server": server, "token": token, "timeout": timeout, "api_prefix": api_prefix}
    fields.update({key: value for key, value in given.items() if value is not None})
    extra = [parse_header(item) for item in headers]
    rbac = {"rbac_token": rbac_token, "role": role, "actor": actor}
    extra += [(RBAC_HEADERS[key], value) for key, value in rbac.items() if value]
    fields["headers"] = tuple(extra)
    if output is None:
        output = "json" if json_envelope or not sys.stdout.isatty() else "table"
    common: dict[str, Any] = {
        "output": output,
        "no_input": no_input or not sys.stdin.isatty(),
        "json_envelope": json_envelope,
        "verbose": verbose,
        "context_name": chosen,
    }
    if data_dir is not None and (server is not None or context_name is not None):
        raise click.UsageError("give --server/--context or --data-dir, not both")
    if data_dir is None:
        try:
            return CliContext(target=Target(**fields), **common)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    wait = float(fields.get("timeout", DEFAULT_TIMEOUT))

    def start() -> Target:
        from codex_manager_cli.embedded import start_embedded

        target, stop = start_embedded(data_dir, demo=demo, timeout=wait, verbose=verbose)
        ctx.call_on_close(stop)
        return target

    return CliContext(data_dir=data_dir, start=start, **common)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(cmgr completion bash)"`."""
    from click.shell_completion import get_completion_class

    kind = get_completion_class(shell)
    assert kind is not None  # the three choices are click's own
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "cmgr"
    if name not in ("cmgr", "codex-manager"):
        name = "cmgr"
    script = kind(cli, {}, name, "_" + name.replace("-", "_").upper() + "_COMPLETE")
    click.echo(script.source())


def _register() -> None:
    from codex_manager_cli.commands import add_route_commands
    from codex_manager_cli.contexts import context_group
    from codex_manager_cli.import_original import import_original
    from codex_manager_cli.raw import api_group
    from codex_manager_cli.serve import serve

    cli.add_command(serve)
    cli.add_command(import_original)
    cli.add_command(context_group)
    cli.add_command(api_group)
    assert isinstance(cli, Group)
    add_route_commands(cli)


_register()

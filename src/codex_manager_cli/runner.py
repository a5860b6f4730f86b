"""One command's request, start to end: send it, print the answer in the chosen format,
or the error on stderr, and return the exit code. Every route command and `api request`
go through `run_request`, embedded (`--data-dir`) or remote alike."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from codex_manager_cli import exits, output
from codex_manager_cli.context import CliContext
from codex_manager_cli.http import Answer, request_url, send


def run_request(
    cli: CliContext,
    command: str,
    method: str,
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    allow: Sequence[int] = (),
    rows: str | None = None,
    columns: Sequence[str] = (),
    quiet: bool = False,
    allow_plain: bool = False,
) -> tuple[int, Answer | None]:
    """Send the request and print its outcome; (exit code, the answer if there was one).

    `allow`: statuses that are outcomes, not failures, under `--json` (exit 0, `ok`
    envelope); with `allow_plain` also without `--json`. `quiet`: print nothing on
    success (the caller prints)."""
    try:
        target = cli.target
        url = request_url(target, path, query)
        if cli.verbose:
            click.echo(f"> {method} {url}", err=True)
        answer = send(target, method, url, body=body, raw_body=raw_body, headers=headers)
    except Exception as exc:
        return fail(cli, exc), None
    if cli.verbose:
        click.echo(f"< {answer.status} {answer.content_type}", err=True)
    api_path = target.api_prefix + path
    success = answer.ok or ((cli.json_envelope or allow_plain) and answer.status in allow)
    if success:
        if quiet:
            return exits.OK, answer
        if cli.json_envelope:
            envelope = output.envelope(
                True, command, method, api_path, url, answer.status, answer.body
            )
            _write_json(envelope, cli.output, sys.stdout)
        else:
            output.render(answer.body, cli.output, rows=rows, columns=columns)
        return exits.OK, answer
    return http_failure(cli, command, method, api_path, url, answer), answer


def http_failure(
    cli: CliContext, command: str, method: str, api_path: str, url: str, answer: Answer
) -> int:
    """Report an error answer on stderr: the server's message (and in --json, the envelope
    with the whole body); the exit code of its status."""
    from codex_manager_client.errors import error_from_response

    error = error_from_response(answer.status, answer.body, method=method, path=api_path)
    if cli.json_envelope:
        envelope = output.error_envelope(
            exits.error_kind(answer.body, answer.status),
            error.message,
            command=command,
            request={"method": method, "path": api_path, "url": url},
            response={"statusCode": answer.status, "body": answer.body},
        )
        _write_json(envelope, cli.output, sys.stderr)
    else:
        click.echo(f"error: {error.message} (HTTP {answer.status} {error.code})", err=True)
    return exits.for_status(answer.status)


def fail(cli: CliContext, exc: BaseException) -> int:
    """Report an error that got no answer (unreachable, timeout, a bad argument); an
    unexpected exception is raised again (a bug: its traceback is wanted)."""
    known = exits.for_exception(exc)
    if known is None:
        raise exc
    code, kind, message = known
    if cli.json_envelope:
        _write_json(output.error_envelope(kind, message), cli.output, sys.stderr)
    else:
        click.echo(f"error: {message}", err=True)
    return code


def _write_json(value: Any, fmt: str, stream: Any) -> None:
    stream.write(output.dumps(value, indent=None if fmt == "jsonl" else 2) + "\n")
    stream.flush()

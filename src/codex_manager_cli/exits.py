"""The CLI's exit codes, and the one place an error becomes a code and a message.

Scripts branch on the code, so it is a documented table (docs/cli.md) rather than
"1 on any failure": a missing session (3) is not an unreachable server (6).
"""

from __future__ import annotations

from typing import Any

OK = 0
FAILURE = 1
USAGE = 2
NOT_FOUND = 3
AUTH = 4
CONFLICT = 5
UNREACHABLE = 6
TIMEOUT = 7
RUNTIME_UNAVAILABLE = 8
#: The outcomes of the live waits (`sessions send --wait`, `jobs wait`): codex_manager_cli.live.
OUTCOME_FAILED = 9
OUTCOME_CANCELED = 10
NEEDS_DECISION = 11
INTERRUPTED = 130

#: (code, meaning) in the order docs/cli.md lists them.
TABLE: tuple[tuple[int, str], ...] = (
    (OK, "success (also a status the command declares an outcome, with --json)"),
    (FAILURE, "any other failure (a 5xx of the server, an unexpected answer)"),
    (USAGE, "bad usage or input: unknown option, bad JSON, 400/413/415 from the server"),
    (NOT_FOUND, "not found or gone: 404, 410 (a deleted session)"),
    (AUTH, "authentication or permission: 401 (token missing or wrong), 403"),
    (CONFLICT, "conflict or invalid state: 409, 423 (locked), 429 (queue full)"),
    (UNREACHABLE, "the server is not reachable (refused, name not found, connection cut)"),
    (TIMEOUT, "no answer in time (the client's timeout, 504, a wait that timed out)"),
    (RUNTIME_UNAVAILABLE, "the server's codex runtime is unavailable or failed: 501, 502, 503"),
    (OUTCOME_FAILED, "a waited turn or job ended failed (`sessions send --wait`, `jobs wait`)"),
    (OUTCOME_CANCELED, "a waited turn was interrupted, or a waited job canceled"),
    (NEEDS_DECISION, "a waited turn asks for a decision (an approval, a question) and --no-input"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
)

_BY_STATUS = {
    400: USAGE,
    413: USAGE,
    415: USAGE,
    401: AUTH,
    403: AUTH,
    404: NOT_FOUND,
    410: NOT_FOUND,
    409: CONFLICT,
    423: CONFLICT,
    429: CONFLICT,
    501: RUNTIME_UNAVAILABLE,
    502: RUNTIME_UNAVAILABLE,
    503: RUNTIME_UNAVAILABLE,
    504: TIMEOUT,
}


def for_status(status: int) -> int:
    """The exit code of an HTTP error status."""
    return _BY_STATUS.get(status, FAILURE)


def for_exception(exc: BaseException) -> tuple[int, str, str] | None:
    """(exit code, kind, message) of an error raised while running a command: the
    client's and the core's errors by class, a refused value (ValueError) as usage, an
    embedded server that did not start as a failure; None for anything else (a bug,
    which keeps its traceback)."""
    from codex_manager_client import errors

    if isinstance(exc, errors.ApiError):
        return for_status(exc.status), exc.code, exc.message
    if isinstance(exc, errors.ClientTimeout):
        return TIMEOUT, "client_timeout", str(exc)
    if isinstance(exc, errors.TransportError):
        return UNREACHABLE, "transport_error", str(exc)
    from codex_manager_core import errors as core

    if isinstance(exc, core.TimedOut):
        return TIMEOUT, "timeout", str(exc)
    if isinstance(exc, core.NotFound | core.Gone):
        return NOT_FOUND, getattr(exc, "code", "not_found"), str(exc)
    if isinstance(exc, core.CodexManagerError):
        return FAILURE, getattr(exc, "code", "error"), str(exc)
    if isinstance(exc, ValueError):
        return USAGE, "usage", str(exc)
    from codex_manager_cli.embedded import EmbeddedError

    if isinstance(exc, EmbeddedError):
        return FAILURE, "embedded_start_failed", str(exc)
    return None


def error_kind(body: Any, status: int) -> str:
    """The `kind` of an error answer in the --json envelope: the server's `code`."""
    code = body.get("code") if isinstance(body, dict) else None
    return str(code) if code else f"http_{status}"

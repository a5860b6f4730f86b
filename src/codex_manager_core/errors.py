"""Every error codex_manager_core raises on purpose, in one hierarchy.

`CodexManagerError` is the root. Each error has a stable `code` (the original API's error
codes where one exists), so a host maps it to its wire form (an HTTP status and body, a CLI
exit code) without reading messages; `message` says what went wrong and what to do about it;
`details` carries structured facts. The runtime's own failures (JSON-RPC errors, timeouts,
a closed pipe) are mapped to these once, where the services call the runtime
(`services/context.py`), so callers never see a raw transport error.

    CodexManagerError
    +-- CodexRuntimeError: the runtime (binary, process, calls)
    |   +-- BinaryNotFound, RuntimeUnavailable (+ RuntimeExited), StartupFailed,
    |       TransportClosed, RpcError
    +-- TimedOut (also a builtin TimeoutError): CallTimeout (a runtime call), TurnTimeout,
    |   JobStalled (a job without heartbeat)
    +-- InvalidInput (+ SettingsTooLarge), NotFound, Gone, Forbidden (+ SystemSessionForbidden),
    |   Conflict, InvalidState (+ TurnInProgress), Locked, ReloadFailed, QueueFull, MethodNotSupported,
    |   AuthRequired, RuntimeCallFailed, TurnFailed
    +-- StoreUnavailable, StoreConflict, StoreCorrupt, DataDirLocked, DataDirUnusable
    +-- ToolDefinitionError

`ManagerError` is another name for `CodexManagerError` (the name the first releases used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_manager_core.turn_outcome import TurnErrorNotice, TurnResult


class CodexManagerError(Exception):
    """Base class of every error codex_manager_core raises on purpose."""

    code = "error"

    def __init__(self, message: str = "", *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


ManagerError = CodexManagerError


# ---------------------------------------------------------------- runtime layer


class CodexRuntimeError(CodexManagerError):
    """Base class of errors about the codex app-server runtime."""

    code = "runtime_error"


class BinaryNotFound(CodexRuntimeError):
    """The codex binary is missing or cannot be run."""

    code = "codex_not_found"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot run the codex binary at {path!r}: {reason}. Install the pinned runtime "
            "with `pip install openai-codex-cli-bin==0.163.0`, or set CODEX_BIN (or pass "
            "codex_bin=...) to the path of a working `codex` executable."
        )


class RuntimeUnavailable(CodexRuntimeError):
    """The runtime is not running (starting, restarting, failed or stopped).

    `retry_after`: seconds after which a retry may succeed (about 1 while it starts or
    restarts; until the next automatic attempt when it has failed), or None when only an
    action (a restart, a fix) can help."""

    code = "runtime_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RuntimeExited(RuntimeUnavailable):
    """The runtime process exited while a call was in flight (or before it could be sent)."""

    def __init__(self, method: str | None, status: Any = None, detail: str = "") -> None:
        self.method = method
        self.status = status
        self.returncode: int | None = getattr(status, "returncode", None)
        describe = getattr(status, "describe", None)
        how = f" ({describe()})" if callable(describe) else ""
        what = f"call {method!r} failed: " if method else ""
        super().__init__(
            f"{what}codex app-server exited{how}{detail}; "
            "the supervisor restarts it, retry the call once it reports ready"
        )


class TimedOut(CodexManagerError, TimeoutError):
    """Something did not finish in time: a runtime call (`CallTimeout`) or the wait for a
    turn (`TurnTimeout`). Also a builtin `TimeoutError`."""

    code = "timeout"


class JobStalled(TimedOut):
    """A running job reported no heartbeat (progress, a step, its running context, or
    `ctx.heartbeat()`) within its type's `stall_timeout`: its attempt was cancelled and
    counts as failed. A timeout, so retryable by default; the retry policy decides."""

    code = "job_stalled"


class CallTimeout(TimedOut):
    """A call to the runtime got no answer in time (HTTP 504)."""

    code = "codex_timeout"

    def __init__(self, method: str, timeout: float) -> None:
        self.method = method
        self.timeout = timeout
        super().__init__(
            f"codex app-server did not answer {method!r} within {timeout:g} s; the runtime "
            "may be stuck or overloaded (check health and the runtime log), or raise the timeout"
        )


class RpcError(CodexRuntimeError):
    """The runtime answered a call with a JSON-RPC error: `rpc_code` (an int) and
    `rpc_message` are the runtime's. The services map it to a more specific error
    (`services/context.py:map_runtime_error`); a caller sees it only from the runtime layer."""

    code = "codex_error"

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"codex app-server rejected {method!r}: {message} (code {code})")
        self.method = method
        self.rpc_code = code
        self.rpc_message = message
        self.data = data


class TransportClosed(CodexRuntimeError):
    """The byte stream to the runtime is closed (it exited or is being stopped)."""

    code = "runtime_unavailable"


class StartupFailed(CodexRuntimeError):
    """The runtime started but did not complete the handshake."""

    code = "runtime_start_failed"


# ---------------------------------------------------------------- a caller's request


class InvalidInput(ManagerError):
    """The arguments are wrong: `issues` lists each problem as {path, message}."""

    code = "invalid_request"

    def __init__(
        self, message: str, *, issues: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code, details=issues)
        self.issues = issues or [{"path": [], "message": message}]


class SettingsTooLarge(InvalidInput):
    """A settings document would be larger than the configured bound."""

    code = "settings_too_large"

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(
            f"{field} would be {size} bytes of JSON; the limit is {limit} bytes per session "
            "(ManagerConfig.max_settings_bytes): remove keys you no longer need, or keep large "
            "data elsewhere and store a reference",
            issues=[{"path": [field], "message": f"larger than {limit} bytes"}],
        )
        self.size = size
        self.limit = limit


class NotFound(ManagerError):
    code = "not_found"


class Gone(ManagerError):
    """The session was hard-deleted; its tombstone says when."""

    code = "deleted"

    def __init__(self, session_id: str, title: str, deleted_at: Any) -> None:
        when = deleted_at.isoformat() if hasattr(deleted_at, "isoformat") else deleted_at
        super().__init__(
            f"session {session_id} was permanently deleted at {when}; "
            "it cannot be used any more (create a new session)"
        )
        self.session_id = session_id
        self.title = title
        self.deleted_at = deleted_at


class Forbidden(ManagerError):
    code = "forbidden"


class SystemSessionForbidden(Forbidden):
    """The session is system-owned (a queue worker); people and clients may only read it."""

    code = "system_session"


class Conflict(ManagerError):
    code = "conflict"


class InvalidState(ManagerError):
    code = "invalid_state"


class TurnInProgress(InvalidState):
    """A message was sent while a turn of the session runs. The runtime would fold the text
    into the running turn without saying so (and ignore this message's overrides), so it is
    refused: steer the running turn (`steer_turn`), or wait for it to end."""

    def __init__(self, session_id: str, turn_id: str) -> None:
        super().__init__(
            f"session {session_id} has a turn in progress ({turn_id}); add your text to it "
            f"with POST /api/sessions/{session_id}/turns/{turn_id}/steer (embedded: "
            "steer_turn), or wait until it completes (or interrupt it) and send again",
            details={"activeTurnId": turn_id},
        )
        self.session_id = session_id
        self.turn_id = turn_id


class Locked(ManagerError):
    code = "locked"


class ReloadFailed(ManagerError):
    """A strict extension (re)load met an error: nothing was swapped, the previous snapshot
    stays loaded. `diagnostics`: `[{name, code, message}]`, one per extension that failed
    (codes: model.LoadErrorCode)."""

    code = "reload_failed"

    def __init__(self, message: str, diagnostics: Sequence[dict[str, str]]) -> None:
        super().__init__(message, details=list(diagnostics))
        self.diagnostics = list(diagnostics)


class QueueFull(ManagerError):
    """The job queue holds as many queued or running jobs as it may, for the owner or in
    all (`ManagerConfig.queue_max_per_owner`, `queue_max_total`): HTTP 429. Retry once some
    jobs have finished."""

    code = "queue_full"


class MethodNotSupported(ManagerError):
    """The installed codex does not have this method (or it needs experimentalApi)."""

    code = "method_not_supported"

    def __init__(self, method: str, detail: str = "") -> None:
        super().__init__(
            f"the installed codex app-server does not support {method!r}{detail}; "
            "upgrade codex (openai-codex-cli-bin) or avoid this call"
        )
        self.method = method


class RuntimeCallFailed(ManagerError):
    """The runtime answered with an error no more specific class describes."""

    code = "codex_error"


class AuthRequired(ManagerError):
    """codex is not logged in (or its login expired). Not `auth_required`, the code of a
    missing or wrong server token (HTTP 401): this is the runtime's state (HTTP 409)."""

    code = "codex_auth_required"


# ---------------------------------------------------------------- storage and start-up


class StoreUnavailable(ManagerError):
    """The store cannot be written: the disk is full, the data directory is read-only or
    gone, or an I/O error. Nothing of the failed write was stored. The manager keeps
    running: reads work, events from the runtime are held in memory and retried, and
    writes that a caller waits for fail with this error until the store accepts writes
    again (HTTP 507)."""

    code = "store_unavailable"

    def __init__(
        self,
        location: str,
        reason: str,
        *,
        since: float | None = None,
        held_events: int = 0,
    ) -> None:
        self.location = location
        self.reason = reason
        self.since = since
        self.held_events = held_events
        held = (
            f"; {held_events} event(s) from the runtime are held in memory and retried"
            if held_events
            else ""
        )
        super().__init__(
            f"cannot write to the data directory {location}: {reason}{held}. Free disk "
            "space (or make the directory writable again) and retry; nothing of this "
            "request was stored"
        )


class DataDirLocked(ManagerError):
    """Another manager (process) has this data directory open. Two managers on one data
    directory would both drive a runtime and disagree about the state."""

    code = "data_dir_locked"

    def __init__(self, data_dir: str, holder: str | None = None) -> None:
        self.data_dir = data_dir
        self.holder = holder
        who = f" (process {holder})" if holder else ""
        super().__init__(
            f"the data directory {data_dir} is in use by another codex-manager{who}; "
            "stop that one first, or use another --data-dir"
        )


class DataDirUnusable(ManagerError):
    """The data directory cannot be created, opened or written (read-only file system,
    permissions, a file in the way)."""

    code = "data_dir_unusable"

    def __init__(self, data_dir: str, reason: str) -> None:
        self.data_dir = data_dir
        self.reason = reason
        super().__init__(
            f"cannot use the data directory {data_dir}: {reason}; make it writable or "
            "choose another with --data-dir (CODEX_MANAGER_DATA_DIR)"
        )


# ---------------------------------------------------------------- turns


class TurnTimeout(TimedOut):
    """`turns.wait` ran out of time; the turn goes on. `last_retry` is the runtime's last
    retry notice, if it was retrying."""

    code = "timeout"

    def __init__(self, message: str, *, last_retry: TurnErrorNotice | None = None) -> None:
        super().__init__(message)
        self.last_retry = last_retry


class TurnFailed(CodexManagerError):
    """The turn failed: the runtime gave up (an `error` without `willRetry`) or the turn
    ended `failed`. `runtime_message` is the runtime's own message; `notice` the error
    notification (None when only the turn's end said so); `result` the turn's result when
    it had ended."""

    code = "turn_failed"

    def __init__(
        self,
        session_id: str,
        turn_id: str,
        runtime_message: str,
        *,
        notice: TurnErrorNotice | None = None,
        result: TurnResult | None = None,
    ) -> None:
        hint = _login_hint(notice)
        super().__init__(
            f"turn {turn_id} of session {session_id} failed: {runtime_message}"
            + (f". {hint}" if hint else "")
        )
        self.session_id = session_id
        self.turn_id = turn_id
        self.runtime_message = runtime_message
        self.notice = notice
        self.result = result


def _login_hint(notice: TurnErrorNotice | None) -> str:
    status = notice.http_status if notice is not None else None
    if status in (401, 403):
        return (
            "The model server refused the credentials: log in with `codex login` (the manager "
            "copies ~/.codex/auth.json into its CODEX_HOME once), or try the offline demo model"
        )
    return ""


# ---------------------------------------------------------------- the store's vocabulary


class StoreConflict(CodexManagerError):
    """A compare-and-set precondition of a batch did not hold; nothing was written."""

    code = "store_conflict"

    def __init__(self, key: str, current: str | None, expected: Sequence[str]) -> None:
        super().__init__(f"{key} is {current or 'missing'}, expected one of {list(expected)}")
        self.key = key
        self.current = current
        self.expected = tuple(expected)


class StoreCorrupt(CodexManagerError):
    """The store's files cannot be used (not a database, or a newer schema version)."""

    code = "store_corrupt"


# ---------------------------------------------------------------- Python tools


class ToolDefinitionError(CodexManagerError, TypeError):
    """A Python function cannot be exposed as a tool (an unsupported parameter type, a bad
    name); raised when it is registered, never when the model calls it."""

    code = "invalid_tool"

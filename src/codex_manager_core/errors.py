"""Typed errors of the core. Every message says what went wrong and what to do about it."""

from __future__ import annotations

from typing import Any


class CodexManagerError(Exception):
    """Base class of every error codex_manager_core raises on purpose."""


# ---------------------------------------------------------------- runtime layer


class CodexRuntimeError(CodexManagerError):
    """Base class of errors about the codex app-server runtime."""


class BinaryNotFound(CodexRuntimeError):
    """The codex binary is missing or cannot be run."""

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


class CallTimeout(CodexRuntimeError):
    """A call got no answer in time."""

    def __init__(self, method: str, timeout: float) -> None:
        self.method = method
        self.timeout = timeout
        super().__init__(
            f"codex app-server did not answer {method!r} within {timeout:g} s; the runtime "
            "may be stuck or overloaded (check health and the runtime log), or raise the timeout"
        )


class RpcError(CodexRuntimeError):
    """The runtime answered a call with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data
        super().__init__(f"codex app-server rejected {method!r}: {message} (code {code})")


class TransportClosed(CodexRuntimeError):
    """The byte stream to the runtime is closed (it exited or is being stopped)."""


# ---------------------------------------------------------------- manager layer
#
# Each error has a stable `code` (the original API's error codes where one exists), so a host
# maps it to its wire form without looking at messages.


class ManagerError(CodexManagerError):
    """Base class of the errors the Manager API raises for a caller's request."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


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


class RuntimeTimedOut(ManagerError):
    """The runtime did not answer in time."""

    code = "codex_timeout"


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

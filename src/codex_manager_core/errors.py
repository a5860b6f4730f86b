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
    """The runtime is not running (starting, restarting, failed or stopped)."""


class RuntimeExited(RuntimeUnavailable):
    """The runtime process exited while a call was in flight (or before it could be sent)."""

    def __init__(self, method: str | None, returncode: int | None, detail: str = "") -> None:
        self.method = method
        self.returncode = returncode
        what = f"call {method!r} failed: " if method else ""
        super().__init__(
            f"{what}codex app-server exited (exit status {returncode}){detail}; "
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

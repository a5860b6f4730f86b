"""The runtime layer: run `codex app-server`, talk JSON-RPC to it, keep it alive."""

from codex_manager_core.runtime.binary import CodexBinary, find_codex_binary
from codex_manager_core.runtime.client import (
    DEFERRED,
    ClientInfo,
    InitializeResult,
    RetryPolicy,
    RuntimeClient,
    ServerRequestError,
    parse_codex_version,
)
from codex_manager_core.runtime.stdio import (
    LogSettings,
    StdioProcess,
    StdioTransport,
    StopTimeouts,
    codex_app_server_transport,
)
from codex_manager_core.runtime.supervisor import (
    ExitRecord,
    RestartPolicy,
    RuntimeHealth,
    RuntimeState,
    Supervisor,
)

__all__ = [
    "DEFERRED",
    "ClientInfo",
    "CodexBinary",
    "ExitRecord",
    "InitializeResult",
    "LogSettings",
    "RestartPolicy",
    "RetryPolicy",
    "RuntimeClient",
    "RuntimeHealth",
    "RuntimeState",
    "ServerRequestError",
    "StdioProcess",
    "StdioTransport",
    "StopTimeouts",
    "Supervisor",
    "codex_app_server_transport",
    "find_codex_binary",
    "parse_codex_version",
]

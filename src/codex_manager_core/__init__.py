"""codex_manager_core: supervise `codex app-server`, translate its stream, keep durable state.

`import codex_manager_core` gives the whole product in-process:

    from codex_manager_core import Manager

    async with Manager.open(data_dir=".data") as manager:
        session = await manager.create_session(title="Demo")
        result = await manager.send_and_wait(session.session_id, "Hello")
        print(result.final_text)

See docs/embedded.md for the full API.

The package is a lazy facade (PEP 562): importing it, or any module inside it, loads only
`_version`; each name below is imported from its module the first time it is used. So
`import codex_manager_core.rpc` costs the sans-IO layer alone, not the Manager, the SQLite
store and the subprocess runtime. Type checkers and IDEs read the `TYPE_CHECKING` imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from codex_manager_core._version import __version__

if TYPE_CHECKING:
    from codex_manager_core.api import ManagerApi, ServerApi
    from codex_manager_core.blocking import Blocking
    from codex_manager_core.config import ManagerConfig, SystemRequestPolicy
    from codex_manager_core.errors import (
        AuthRequired,
        BinaryNotFound,
        CallTimeout,
        CodexManagerError,
        CodexRuntimeError,
        Conflict,
        DataDirLocked,
        DataDirUnusable,
        Forbidden,
        Gone,
        InvalidInput,
        InvalidState,
        JobStalled,
        Locked,
        ManagerError,
        MethodNotSupported,
        NotFound,
        QueueFull,
        ReloadFailed,
        RpcError,
        RuntimeCallFailed,
        RuntimeExited,
        RuntimeUnavailable,
        SettingsTooLarge,
        StartupFailed,
        StoreConflict,
        StoreCorrupt,
        StoreUnavailable,
        SystemSessionForbidden,
        TimedOut,
        ToolDefinitionError,
        TransportClosed,
        TurnFailed,
        TurnInProgress,
        TurnTimeout,
    )
    from codex_manager_core.events.bus import EventFilter, Subscription
    from codex_manager_core.manager import Manager, StorageHealth
    from codex_manager_core.models import (
        AgentSession,
        Controls,
        Event,
        InteractiveRequest,
        JsonValue,
        Lagged,
        Project,
        ProjectSessionsDeleted,
        ProjectSessionsMoved,
        RequestKind,
        RequestStatus,
        SessionRecord,
        SettingValue,
        Tombstone,
        TranscriptEntry,
        TurnRecord,
        TurnStatus,
    )
    from codex_manager_core.queue.agents import AgentDefinition
    from codex_manager_core.runtime.supervisor import RuntimeHealth
    from codex_manager_core.services.controls import KEEP, ControlsChange, ControlsView, Keep
    from codex_manager_core.services.health import AuthState, ManagerHealth, QueueHealth
    from codex_manager_core.services.session_scope import SessionScope
    from codex_manager_core.services.sessions import DeletedSession, SessionDetail, StartedSession
    from codex_manager_core.services.suggestion_state import SuggestionState, SuggestionStatus
    from codex_manager_core.services.suggestions import SuggestionJob, SuggestionOutcome
    from codex_manager_core.services.transcript import TranscriptPage
    from codex_manager_core.services.turns import TurnErrorNotice, TurnHandle, TurnResult
    from codex_manager_core.services.workers import Worker
    from codex_manager_core.store import MemoryStore, SqliteStore
    from codex_manager_core.tools import ToolRegistry, ToolResult

# Every public name -> the module it is defined in (moving a name is one line here).
_EXPORTS: dict[str, str] = {
    "DeletedSession": "codex_manager_core.services.sessions",
    "SessionDetail": "codex_manager_core.services.sessions",
    "ManagerApi": "codex_manager_core.api",
    "SessionScope": "codex_manager_core.services.session_scope",
    "SettingValue": "codex_manager_core.models",
    "ProjectSessionsMoved": "codex_manager_core.models",
    "ProjectSessionsDeleted": "codex_manager_core.models",
    "JsonValue": "codex_manager_core.models",
    "TransportClosed": "codex_manager_core.errors",
    "ToolDefinitionError": "codex_manager_core.errors",
    "TimedOut": "codex_manager_core.errors",
    "JobStalled": "codex_manager_core.errors",
    "ReloadFailed": "codex_manager_core.errors",
    "StoreCorrupt": "codex_manager_core.errors",
    "StoreConflict": "codex_manager_core.errors",
    "StartupFailed": "codex_manager_core.errors",
    "CodexRuntimeError": "codex_manager_core.errors",
    "AuthRequired": "codex_manager_core.errors",
    "BinaryNotFound": "codex_manager_core.errors",
    "CallTimeout": "codex_manager_core.errors",
    "CodexManagerError": "codex_manager_core.errors",
    "Conflict": "codex_manager_core.errors",
    "Controls": "codex_manager_core.models",
    "ControlsChange": "codex_manager_core.services.controls",
    "KEEP": "codex_manager_core.services.controls",
    "Keep": "codex_manager_core.services.controls",
    "ControlsView": "codex_manager_core.services.controls",
    "DataDirLocked": "codex_manager_core.errors",
    "DataDirUnusable": "codex_manager_core.errors",
    "Event": "codex_manager_core.models",
    "EventFilter": "codex_manager_core.events.bus",
    "Forbidden": "codex_manager_core.errors",
    "Gone": "codex_manager_core.errors",
    "InteractiveRequest": "codex_manager_core.models",
    "InvalidInput": "codex_manager_core.errors",
    "InvalidState": "codex_manager_core.errors",
    "Lagged": "codex_manager_core.models",
    "Locked": "codex_manager_core.errors",
    "QueueFull": "codex_manager_core.errors",
    "Manager": "codex_manager_core.manager",
    "ManagerConfig": "codex_manager_core.config",
    "ManagerError": "codex_manager_core.errors",
    "ManagerHealth": "codex_manager_core.services.health",
    "AuthState": "codex_manager_core.services.health",
    "QueueHealth": "codex_manager_core.services.health",
    "MemoryStore": "codex_manager_core.store",
    "MethodNotSupported": "codex_manager_core.errors",
    "NotFound": "codex_manager_core.errors",
    "Project": "codex_manager_core.models",
    "AgentSession": "codex_manager_core.models",
    "AgentDefinition": "codex_manager_core.queue.agents",
    "Worker": "codex_manager_core.services.workers",
    "RequestKind": "codex_manager_core.models",
    "RequestStatus": "codex_manager_core.models",
    "RpcError": "codex_manager_core.errors",
    "RuntimeCallFailed": "codex_manager_core.errors",
    "RuntimeExited": "codex_manager_core.errors",
    "RuntimeUnavailable": "codex_manager_core.errors",
    "SessionRecord": "codex_manager_core.models",
    "SettingsTooLarge": "codex_manager_core.errors",
    "SqliteStore": "codex_manager_core.store",
    "StartedSession": "codex_manager_core.services.sessions",
    "StorageHealth": "codex_manager_core.manager",
    "StoreUnavailable": "codex_manager_core.errors",
    "Subscription": "codex_manager_core.events.bus",
    "SystemRequestPolicy": "codex_manager_core.config",
    "SystemSessionForbidden": "codex_manager_core.errors",
    "Tombstone": "codex_manager_core.models",
    "ToolRegistry": "codex_manager_core.tools",
    "ToolResult": "codex_manager_core.tools",
    "TranscriptEntry": "codex_manager_core.models",
    "TranscriptPage": "codex_manager_core.services.transcript",
    "TurnErrorNotice": "codex_manager_core.services.turns",
    "TurnFailed": "codex_manager_core.errors",
    "TurnHandle": "codex_manager_core.services.turns",
    "TurnInProgress": "codex_manager_core.errors",
    "TurnRecord": "codex_manager_core.models",
    "TurnResult": "codex_manager_core.services.turns",
    "TurnStatus": "codex_manager_core.models",
    "TurnTimeout": "codex_manager_core.errors",
    "RuntimeHealth": "codex_manager_core.runtime.supervisor",
    "SuggestionJob": "codex_manager_core.services.suggestions",
    "SuggestionOutcome": "codex_manager_core.services.suggestions",
    "SuggestionState": "codex_manager_core.services.suggestion_state",
    "SuggestionStatus": "codex_manager_core.services.suggestion_state",
    "ServerApi": "codex_manager_core.api",
    "Blocking": "codex_manager_core.blocking",
}

__all__ = [
    "KEEP",
    "AgentDefinition",
    "AgentSession",
    "AuthRequired",
    "AuthState",
    "BinaryNotFound",
    "Blocking",
    "CallTimeout",
    "CodexManagerError",
    "CodexRuntimeError",
    "Conflict",
    "Controls",
    "ControlsChange",
    "ControlsView",
    "DataDirLocked",
    "DataDirUnusable",
    "DeletedSession",
    "Event",
    "EventFilter",
    "Forbidden",
    "Gone",
    "InteractiveRequest",
    "InvalidInput",
    "InvalidState",
    "JobStalled",
    "JsonValue",
    "Keep",
    "Lagged",
    "Locked",
    "Manager",
    "ManagerApi",
    "ManagerConfig",
    "ManagerError",
    "ManagerHealth",
    "MemoryStore",
    "MethodNotSupported",
    "NotFound",
    "Project",
    "ProjectSessionsDeleted",
    "ProjectSessionsMoved",
    "QueueFull",
    "QueueHealth",
    "ReloadFailed",
    "RequestKind",
    "RequestStatus",
    "RpcError",
    "RuntimeCallFailed",
    "RuntimeExited",
    "RuntimeHealth",
    "RuntimeUnavailable",
    "ServerApi",
    "SessionDetail",
    "SessionRecord",
    "SessionScope",
    "SettingValue",
    "SettingsTooLarge",
    "SqliteStore",
    "StartedSession",
    "StartupFailed",
    "StorageHealth",
    "StoreConflict",
    "StoreCorrupt",
    "StoreUnavailable",
    "Subscription",
    "SuggestionJob",
    "SuggestionOutcome",
    "SuggestionState",
    "SuggestionStatus",
    "SystemRequestPolicy",
    "SystemSessionForbidden",
    "TimedOut",
    "Tombstone",
    "ToolDefinitionError",
    "ToolRegistry",
    "ToolResult",
    "TranscriptEntry",
    "TranscriptPage",
    "TransportClosed",
    "TurnErrorNotice",
    "TurnFailed",
    "TurnHandle",
    "TurnInProgress",
    "TurnRecord",
    "TurnResult",
    "TurnStatus",
    "TurnTimeout",
    "Worker",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

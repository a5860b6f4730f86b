"""codex_manager_core: supervise `codex app-server`, translate its stream, keep durable state.

`import codex_manager_core` gives the whole product in-process:

    from codex_manager_core import Manager

    async with Manager.open(data_dir=".data") as manager:
        session = await manager.sessions.create(title="Demo")
        result = await manager.turns.send_and_wait(session.session_id, "Hello")
        print(result.final_text)

See docs/embedded.md for the full API.
"""

from codex_manager_core._version import __version__
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
    Locked,
    ManagerError,
    MethodNotSupported,
    NotFound,
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
from codex_manager_core.manager import Manager, ManagerHealth, StorageHealth
from codex_manager_core.models import (
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
from codex_manager_core.services.controls import ControlsChange, ControlsView
from codex_manager_core.services.sessions import StartedSession
from codex_manager_core.services.transcript import TranscriptPage
from codex_manager_core.services.turns import TurnErrorNotice, TurnHandle, TurnResult
from codex_manager_core.store import MemoryStore, SqliteStore
from codex_manager_core.tools import ToolRegistry, ToolResult

__all__ = [
    "AuthRequired",
    "BinaryNotFound",
    "CallTimeout",
    "CodexManagerError",
    "CodexRuntimeError",
    "Conflict",
    "Controls",
    "ControlsChange",
    "ControlsView",
    "DataDirLocked",
    "DataDirUnusable",
    "Event",
    "EventFilter",
    "Forbidden",
    "Gone",
    "InteractiveRequest",
    "InvalidInput",
    "InvalidState",
    "JsonValue",
    "Lagged",
    "Locked",
    "Manager",
    "ManagerConfig",
    "ManagerError",
    "ManagerHealth",
    "MemoryStore",
    "MethodNotSupported",
    "NotFound",
    "Project",
    "ProjectSessionsDeleted",
    "ProjectSessionsMoved",
    "RequestKind",
    "RequestStatus",
    "RpcError",
    "RuntimeCallFailed",
    "RuntimeExited",
    "RuntimeUnavailable",
    "SessionRecord",
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
    "__version__",
]

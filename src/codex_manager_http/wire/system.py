"""System shapes: the API banner, health, capabilities, the REST event replay and the
runtime restart."""

from datetime import UTC, datetime
from typing import Any, Final, TypedDict

from codex_manager_core import Event, ManagerHealth, __version__
from codex_manager_core import StorageHealth as LedgerStorage
from codex_manager_core.runtime.supervisor import RuntimeHealth
from codex_manager_core.serde import iso, to_json
from codex_manager_http.wire.common import record_of


class Banner(TypedDict):
    name: str
    service: str
    version: str
    docs: str
    openapi: str
    stream: str


class CodexHealth(TypedDict):
    running: bool
    pid: int | None
    initialized: bool
    lastExit: dict[str, Any] | None
    state: str
    version: str | None
    restartCount: int
    epoch: int
    lastError: str | None
    experimentalApi: bool | None


class StorageHealth(TypedDict):
    writable: bool
    dataDir: str | None
    failingSince: str | None
    reason: str | None
    heldEvents: int
    lostEvents: int
    retries: int


class QueueHealth(TypedDict):
    """The original's `orchestratorQueue` (ours is always enabled)."""

    enabled: bool
    queued: int
    running: int
    completed: int
    failed: int
    canceled: int
    projects: int
    """Owners (projects, `session:<id>`) with queued or running jobs."""


class Health(TypedDict):
    status: str
    service: str
    version: str
    codex: CodexHealth
    orchestratorQueue: QueueHealth
    auth: dict[str, Any]
    ledger: dict[str, Any]
    store: dict[str, Any] | None
    storage: StorageHealth
    demo: dict[str, Any] | None
    timestamp: str
    record: dict[str, Any]
    """Ours: the core record exactly (the remote client rebuilds it)."""


class EventFrame(TypedDict):
    seq: int
    type: str
    threadId: str | None
    payload: Any
    at: str
    record: dict[str, Any]
    """Ours: the core record exactly (the remote client rebuilds it)."""


class EventsPage(TypedDict):
    status: str
    events: list[EventFrame]
    nextSince: int
    lastSeq: int


class RuntimeRestarted(TypedDict):
    status: str
    state: str
    """`ready`."""
    epoch: int
    """The new process's number (one more per start)."""
    pid: int | None
    version: str | None
    restartCount: int
    record: dict[str, Any]
    """Ours: the core record exactly (the remote client rebuilds it)."""


#: The original's feature names that ours lacks, and the methods each needs.
ORIGINAL_FEATURES: Final[dict[str, tuple[str, ...]]] = {
    "threadCompact": ("thread/compact/start",),
    "threadBackgroundTerminalClean": ("thread/backgroundTerminals/clean",),
    "feedbackUpload": ("feedback/upload",),
    "mcpReload": ("config/mcpServer/reload",),
    "accountLifecycle": ("account/read", "account/login/start", "account/logout"),
    "configRead": ("config/read",),
    "configRequirements": ("configRequirements/read",),
}
#: Features of the manager itself (not of one app-server method).
ALWAYS_FEATURES: Final = ("toolUserInput", "planUpdates", "diffUpdates", "tokenUsage")


def banner() -> Banner:
    return {
        "name": "codex-manager",
        "service": "codex-manager",
        "version": __version__,
        "docs": "/api/docs",
        "openapi": "/api/openapi.json",
        "stream": "/api/stream",
    }


def _codex(runtime: RuntimeHealth) -> CodexHealth:
    last_exit = runtime.last_exit
    return {
        "running": runtime.pid is not None,
        "pid": runtime.pid,
        "initialized": runtime.state == "ready",
        "lastExit": None
        if last_exit is None
        else {
            "code": last_exit.returncode,
            "signal": last_exit.signal,
            "at": iso(datetime.fromtimestamp(last_exit.at, UTC)),
            "expected": last_exit.expected,
        },
        "state": runtime.state.value,
        "version": runtime.codex_version,
        "restartCount": runtime.restart_count,
        "epoch": runtime.epoch,
        "lastError": runtime.last_error,
        "experimentalApi": runtime.experimental_api,
    }


def _storage(storage: LedgerStorage, data_dir: str | None) -> StorageHealth:
    return {
        "writable": storage.writable,
        "dataDir": storage.location or data_dir,
        "failingSince": None
        if storage.failing_since is None
        else iso(datetime.fromtimestamp(storage.failing_since, UTC)),
        "reason": storage.reason,
        "heldEvents": storage.held_events,
        "lostEvents": storage.lost_events,
        "retries": storage.retries,
    }


def _queue(state: ManagerHealth) -> QueueHealth:
    queue = state.queue
    if queue is None:
        return {
            "enabled": False,
            "queued": 0,
            "running": 0,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
            "projects": 0,
        }
    return {
        "enabled": True,
        "queued": queue.queued,
        "running": queue.running,
        "completed": queue.completed,
        "failed": queue.failed,
        "canceled": queue.canceled,
        "projects": queue.owners,
    }


def health(state: ManagerHealth, *, demo: dict[str, Any] | None, token_required: bool) -> Health:
    """`status` is "degraded" while the store refuses writes; the runtime's own state is in
    `codex`. `orchestratorQueue`: live jobs exactly, ended ones as of the store's figures
    (a few seconds old at most)."""
    runtime, storage, ledger, store_stats = state.runtime, state.storage, state.ledger, state.store
    auth = {
        "hasOpenAiApiKey": state.auth.api_key,
        "codexHomeAuthFile": state.auth.auth_file,
        "likelyUnauthenticated": state.auth.likely_unauthenticated and demo is None,
        "serverTokenRequired": token_required,
    }
    return {
        "status": "ok" if storage.writable else "degraded",
        "service": "codex-manager",
        "version": __version__,
        "codex": _codex(runtime),
        "orchestratorQueue": _queue(state),
        "auth": auth,
        "ledger": {
            "lastSeq": state.last_seq,
            "subscribers": state.subscribers,
            "eventsWritten": ledger.events,
            "transactions": ledger.transactions,
            "failedWrites": ledger.failed_writes,
            "refusedWrites": ledger.refused_writes,
        },
        "store": None if store_stats is None else to_json(store_stats),
        "storage": _storage(storage, state.data_dir),
        "demo": demo,
        "timestamp": iso(datetime.now(UTC)) or "",
        "record": record_of(state),
    }


def capabilities(result: dict[str, Any]) -> dict[str, Any]:
    """The core's capabilities with `features` holding every name the original's web UI
    reads (ours are added)."""
    methods: dict[str, Any] = result.get("methods") or {}
    features: dict[str, Any] = dict(result.get("features") or {})
    for name, needed in ORIGINAL_FEATURES.items():
        features.setdefault(
            name, bool(methods) and all(methods.get(m) == "available" for m in needed)
        )
    # Our rollback uses thread/revert where codex has it (and thread/rollback otherwise).
    features.setdefault(
        "threadRollback",
        any(methods.get(m) == "available" for m in ("thread/rollback", "thread/revert")),
    )
    for name in ALWAYS_FEATURES:
        features.setdefault(name, True)
    return {"status": "ok", **result, "features": features}


def events_page(found: list[Event], *, since: int, last_seq: int) -> EventsPage:
    frames: list[EventFrame] = [
        {
            "seq": e.seq,
            "type": e.type,
            "threadId": e.thread_id,
            "payload": e.payload,
            "at": iso(e.at) or "",
            "record": record_of(e, shown=("payload",)),
        }
        for e in found
    ]
    return {
        "status": "ok",
        "events": frames,
        "nextSince": found[-1].seq if found else since,
        "lastSeq": last_seq,
    }


def runtime_restarted(runtime: RuntimeHealth) -> RuntimeRestarted:
    return {
        "status": "ok",
        "state": runtime.state.value,
        "epoch": runtime.epoch,
        "pid": runtime.pid,
        "version": runtime.codex_version,
        "restartCount": runtime.restart_count,
        "record": record_of(runtime),
    }

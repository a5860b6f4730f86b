"""System routes: banner, health, capabilities, metrics, OpenAPI, REST event replay, and
restarting the runtime."""

import os
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypedDict

from litestar import Request, Response, get, post
from litestar.params import Parameter

from codex_manager_core import __version__
from codex_manager_core.serde import iso, to_json
from codex_manager_http.app import HostDep, ManagerDep
from codex_manager_http.metrics import render
from codex_manager_http.routes.sessions import error_responses


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


class Health(TypedDict):
    status: str
    service: str
    version: str
    codex: CodexHealth
    orchestratorQueue: dict[str, Any]
    auth: dict[str, Any]
    ledger: dict[str, Any]
    store: dict[str, Any] | None
    storage: StorageHealth
    demo: dict[str, Any] | None
    timestamp: str


class EventFrame(TypedDict):
    seq: int
    type: str
    threadId: str | None
    payload: Any
    at: str


class EventsPage(TypedDict):
    status: str
    events: list[EventFrame]
    nextSince: int
    lastSeq: int


@get("/api", tags=["system"], summary="API entry metadata", sync_to_thread=False)
def banner() -> Banner:
    return {
        "name": "codex-manager",
        "service": "codex-manager",
        "version": __version__,
        "docs": "/api/docs",
        "openapi": "/api/openapi.json",
        "stream": "/api/stream",
    }


@get("/api/health", tags=["system"], summary="Health check", cache=False)
async def health(manager: ManagerDep, host: HostDep) -> Health:
    """Answers at once, also while the runtime is starting, restarting or has failed.
    `status` is "degraded" while the store refuses writes (`storage` says since when, why,
    and how many runtime events wait in memory); the runtime's own state is in `codex`."""
    runtime = manager.supervisor.health
    storage = manager.ledger.storage
    last_exit = runtime.last_exit
    codex_home = manager.codex_home
    env = manager.config.runtime_env if manager.config.runtime_env is not None else os.environ
    has_key = bool(env.get("OPENAI_API_KEY") or env.get("CODEX_API_KEY"))
    auth_file = bool(codex_home and (codex_home / "auth.json").exists())
    stats = host.store_stats
    return {
        "status": "ok" if storage.writable else "degraded",
        "service": "codex-manager",
        "version": __version__,
        "codex": {
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
        },
        "orchestratorQueue": {
            "enabled": False,
            "queued": 0,
            "running": 0,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
            "projects": 0,
        },
        "auth": {
            "hasOpenAiApiKey": has_key,
            "codexHomeAuthFile": auth_file,
            "likelyUnauthenticated": not (has_key or auth_file) and host.demo is None,
            "serverTokenRequired": bool(host.settings.token),
        },
        "ledger": {
            "lastSeq": manager.bus.last_seq,
            "subscribers": manager.bus.subscriber_count,
            "eventsWritten": manager.ledger.stats.events,
            "transactions": manager.ledger.stats.transactions,
            "failedWrites": manager.ledger.stats.failed_writes,
            "refusedWrites": manager.ledger.stats.refused_writes,
        },
        "store": None if stats is None else to_json(stats),
        "storage": {
            "writable": storage.writable,
            "dataDir": storage.location
            or (str(manager.data_dir) if manager.data_dir is not None else None),
            "failingSince": None
            if storage.failing_since is None
            else iso(datetime.fromtimestamp(storage.failing_since, UTC)),
            "reason": storage.reason,
            "heldEvents": storage.held_events,
            "lostEvents": storage.lost_events,
            "retries": storage.retries,
        },
        "demo": host.demo,
        "timestamp": iso(datetime.now(UTC)) or "",
    }


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


@get("/api/capabilities", tags=["system"], summary="Read Codex capabilities")
async def capabilities(
    manager: ManagerDep,
    refresh: Annotated[bool, Parameter(description="Re-read the runtime's schema")] = False,
) -> dict[str, Any]:
    """Which app-server methods the installed codex offers (read from its own protocol
    schema: nothing is called on the runtime to find out), and the features they make.
    `features` has every name the original's web UI reads (ours are added)."""
    result: dict[str, Any] = await manager.runtime.capabilities(refresh=refresh)
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


@get(
    "/api/metrics",
    tags=["system"],
    summary="Prometheus metrics",
    media_type="text/plain; version=0.0.4",
)
async def metrics(manager: ManagerDep, host: HostDep) -> str:
    runtime = manager.supervisor.health
    stats = host.store_stats
    figures: dict[str, Any] = {
        "codex_manager_events_total": (
            "counter",
            "Events written to the ledger by this process.",
            manager.ledger.stats.events,
            None,
        ),
        "codex_manager_ledger_last_seq": (
            "gauge",
            "The last event seq.",
            manager.bus.last_seq,
            None,
        ),
        "codex_manager_ledger_failed_writes_total": (
            "counter",
            "Ledger writes that failed.",
            manager.ledger.stats.failed_writes,
            None,
        ),
        "codex_manager_store_writable": (
            "gauge",
            "1 while the store accepts writes (0: disk full, read-only, I/O errors).",
            1 if manager.ledger.storage.writable else 0,
            None,
        ),
        "codex_manager_ledger_held_events": (
            "gauge",
            "Runtime events held in memory while the store refuses writes.",
            manager.ledger.storage.held_events,
            None,
        ),
        "codex_manager_ledger_lost_events_total": (
            "counter",
            "Held events dropped because the hold was full (each announced by ledger_events_lost).",
            manager.ledger.storage.lost_events,
            None,
        ),
        "codex_manager_subscribers": (
            "gauge",
            "Live event subscribers (WebSockets, handlers).",
            manager.bus.subscriber_count,
            None,
        ),
        "codex_manager_runtime_restarts_total": (
            "counter",
            "Runtime restarts.",
            runtime.restart_count,
            None,
        ),
        "codex_manager_runtime_up": (
            "gauge",
            "1 while the runtime is ready.",
            1 if runtime.state == "ready" else 0,
            None,
        ),
        "codex_manager_queue_depth": (
            "gauge",
            "Jobs queued (the queue arrives with a later release).",
            0,
            None,
        ),
    }
    if stats is not None:
        figures["codex_manager_open_requests"] = (
            "gauge",
            "Pending interactive requests.",
            stats.open_requests,
            None,
        )
        figures["codex_manager_sessions"] = (
            "gauge",
            "Sessions in the store.",
            stats.sessions,
            None,
        )
    return render(host.metrics, figures)


@get(
    "/api/openapi.json",
    tags=["system"],
    summary="OpenAPI document",
    include_in_schema=False,
    sync_to_thread=False,
)
def openapi_document(request: Request[Any, Any, Any]) -> Response[Any]:
    return Response(request.app.openapi_schema.to_schema(), media_type="application/json")


@get("/api/events", tags=["events"], summary="Replay events from the durable ledger")
async def events(
    manager: ManagerDep,
    since: Annotated[int, Parameter(ge=0, le=2**63 - 1, description="Events with seq > since")] = 0,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    thread_id: Annotated[list[str] | None, Parameter(query="threadId")] = None,
    types: Annotated[list[str] | None, Parameter(description="Type prefixes")] = None,
) -> EventsPage:
    """The same events as the WebSocket, over REST: ascending seq after `since`."""
    found = await manager.events.read(since=since, limit=limit, thread_ids=thread_id, types=types)
    frames: list[EventFrame] = [
        {
            "seq": e.seq,
            "type": e.type,
            "threadId": e.thread_id,
            "payload": e.payload,
            "at": iso(e.at) or "",
        }
        for e in found
    ]
    return {
        "status": "ok",
        "events": frames,
        "nextSince": found[-1].seq if found else since,
        "lastSeq": manager.bus.last_seq,
    }


class RuntimeRestarted(TypedDict):
    status: str
    state: str
    """`ready`."""
    epoch: int
    """The new process's number (one more per start)."""
    pid: int | None
    version: str | None
    restartCount: int


@post(
    "/api/runtime/restart",
    tags=["system"],
    summary="Restart the codex runtime",
    status_code=200,
    responses=error_responses(503),
)
async def restart_runtime(manager: ManagerDep) -> RuntimeRestarted:
    """Ours. Restarts codex app-server and answers once the new process is ready. Also
    the way out of `failed` (the runtime crashed more often than the restart policy
    allows; it is otherwise retried automatically every few minutes): 503
    `runtime_unavailable` with the reason if it fails again. Sessions and history survive;
    running turns end as interrupted."""
    runtime = await manager.runtime.restart(wait=True)
    return {
        "status": "ok",
        "state": runtime.state.value,
        "epoch": runtime.epoch,
        "pid": runtime.pid,
        "version": runtime.codex_version,
        "restartCount": runtime.restart_count,
    }


ROUTES = [banner, health, capabilities, metrics, openapi_document, events, restart_runtime]

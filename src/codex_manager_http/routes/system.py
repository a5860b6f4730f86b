"""System routes: banner, health, capabilities, metrics, OpenAPI, REST event replay, and
restarting the runtime. The JSON shapes are in `wire/system.py`."""

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter

from codex_manager_http.host import HostDep, ManagerDep
from codex_manager_http.metrics import queue_lines, render
from codex_manager_http.routes.common import error_responses
from codex_manager_http.wire import system as wire


@get("/api", tags=["system"], summary="API entry metadata", sync_to_thread=False)
def banner() -> wire.Banner:
    return wire.banner()


@get("/api/health", tags=["system"], summary="Health check", cache=False)
async def health(manager: ManagerDep, host: HostDep) -> wire.Health:
    """Answers at once, also while the runtime is starting, restarting or has failed.
    `status` is "degraded" while the store refuses writes (`storage` says since when, why,
    and how many runtime events wait in memory); the runtime's own state is in `codex`."""
    state = await manager.health(cached=True)
    return wire.health(state, demo=host.demo, token_required=bool(host.settings.token))


@get("/api/capabilities", tags=["system"], summary="Read Codex capabilities")
async def capabilities(
    manager: ManagerDep,
    refresh: Annotated[bool, QueryParameter(description="Re-read the runtime's schema")] = False,
) -> dict[str, Any]:
    """Which app-server methods the installed codex offers (read from its own protocol
    schema: nothing is called on the runtime to find out), and the features they make.
    `features` has every name the original's web UI reads (ours are added)."""
    return wire.capabilities(await manager.runtime.capabilities(refresh=refresh))


@get(
    "/api/metrics",
    tags=["system"],
    summary="Prometheus metrics",
    media_type="text/plain; version=0.0.4",
)
async def metrics(manager: ManagerDep, host: HostDep) -> str:
    state = await manager.health(cached=True)
    runtime, stats = state.runtime, state.store
    figures: dict[str, Any] = {
        "codex_manager_events_total": (
            "counter",
            "Events written to the ledger by this process.",
            state.ledger.events,
            None,
        ),
        "codex_manager_ledger_last_seq": (
            "gauge",
            "The last event seq.",
            state.last_seq,
            None,
        ),
        "codex_manager_ledger_failed_writes_total": (
            "counter",
            "Ledger writes that failed.",
            state.ledger.failed_writes,
            None,
        ),
        "codex_manager_store_writable": (
            "gauge",
            "1 while the store accepts writes (0: disk full, read-only, I/O errors).",
            1 if state.storage.writable else 0,
            None,
        ),
        "codex_manager_ledger_held_events": (
            "gauge",
            "Runtime events held in memory while the store refuses writes.",
            state.storage.held_events,
            None,
        ),
        "codex_manager_ledger_lost_events_total": (
            "counter",
            "Held events dropped because the hold was full (each announced by ledger_events_lost).",
            state.storage.lost_events,
            None,
        ),
        "codex_manager_subscribers": (
            "gauge",
            "Live event subscribers (WebSockets, handlers).",
            state.subscribers,
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
    return render(host.metrics, figures, queue_lines(manager.jobs.runner.index.stats, state.queue))


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
    since: Annotated[
        int, QueryParameter(ge=0, le=2**63 - 1, description="Events with seq > since")
    ] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    thread_id: Annotated[list[str] | None, QueryParameter(name="threadId")] = None,
    types: Annotated[list[str] | None, QueryParameter(description="Type prefixes")] = None,
) -> wire.EventsPage:
    """The same events as the WebSocket, over REST: ascending seq after `since`."""
    found = await manager.events.read(since=since, limit=limit, thread_ids=thread_id, types=types)
    return wire.events_page(found, since=since, last_seq=manager.events.last_seq)


@post(
    "/api/runtime/restart",
    tags=["system"],
    summary="Restart the codex runtime",
    status_code=200,
    responses=error_responses(503),
)
async def restart_runtime(manager: ManagerDep) -> wire.RuntimeRestarted:
    """Ours. Restarts codex app-server and answers once the new process is ready. Also
    the way out of `failed` (the runtime crashed more often than the restart policy
    allows; it is otherwise retried automatically every few minutes): 503
    `runtime_unavailable` with the reason if it fails again. Sessions and history survive;
    running turns end as interrupted."""
    return wire.runtime_restarted(await manager.runtime.restart(wait=True))


ROUTES: list[Any] = [
    banner,
    health,
    capabilities,
    metrics,
    openapi_document,
    events,
    restart_runtime,
]

"""Request counters and the Prometheus text of `GET /api/metrics`."""

from __future__ import annotations

import collections
import time
from typing import Any

from codex_manager_core.queue.stats import QueueStats
from codex_manager_core.services.health import QueueHealth
from codex_manager_http.asgi import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """Counters the host keeps itself (the manager's own figures are read on demand)."""

    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.request_seconds = 0.0
        self.websocket_connections = 0
        self.websocket_open = 0
        self.websocket_lagged = 0
        self.websocket_disconnected_slow = 0
        self.frames_sent = 0


def metrics_middleware(metrics: Metrics) -> Any:
    """Count requests by method and status (kept to a few operations per request)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def counting_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, counting_send)
            finally:
                metrics.requests[(scope["method"], status)] += 1
                metrics.request_seconds += time.perf_counter() - started

        return middleware

    return factory


def _line(name: str, value: float, labels: dict[str, Any] | None = None) -> str:
    if labels:
        rendered = ",".join(
            f'{key}="{str(val).replace(chr(34), "")}"' for key, val in labels.items()
        )
        return f"{name}{{{rendered}}} {value}"
    return f"{name} {value}"


def queue_lines(stats: QueueStats, live: QueueHealth | None) -> list[str]:
    """The job queue: depth and running now (the runner's index: exact), and since this
    process started the jobs enqueued, retried and ended per state, and a histogram of
    their latency (enqueue to end)."""
    queued, running = (0, 0) if live is None else (live.queued, live.running)
    lines = [
        "# HELP codex_manager_queue_depth Jobs queued (waiting to run, or for a retry).",
        "# TYPE codex_manager_queue_depth gauge",
        _line("codex_manager_queue_depth", queued),
        "# HELP codex_manager_queue_running Jobs running.",
        "# TYPE codex_manager_queue_running gauge",
        _line("codex_manager_queue_running", running),
        "# HELP codex_manager_queue_enqueued_total Jobs enqueued (not joined or merged).",
        "# TYPE codex_manager_queue_enqueued_total counter",
        _line("codex_manager_queue_enqueued_total", stats.enqueued),
        "# HELP codex_manager_queue_retries_total Failed attempts queued again for a retry.",
        "# TYPE codex_manager_queue_retries_total counter",
        _line("codex_manager_queue_retries_total", stats.retries),
        "# HELP codex_manager_queue_jobs_ended_total Jobs ended, by final state.",
        "# TYPE codex_manager_queue_jobs_ended_total counter",
    ]
    for state, count in sorted(stats.ended.items()):
        lines.append(_line("codex_manager_queue_jobs_ended_total", count, {"state": state.value}))
    name = "codex_manager_queue_job_latency_seconds"
    lines += [
        f"# HELP {name} Seconds from enqueue to end, of the jobs ended.",
        f"# TYPE {name} histogram",
    ]
    for bound, count in stats.cumulative():
        lines.append(_line(f"{name}_bucket", count, {"le": f"{bound:g}"}))
    lines += [
        _line(f"{name}_bucket", stats.latency_count, {"le": "+Inf"}),
        _line(f"{name}_sum", round(stats.latency_sum, 6)),
        _line(f"{name}_count", stats.latency_count),
    ]
    return lines


def render(metrics: Metrics, figures: dict[str, Any], extra: list[str] | None = None) -> str:
    """Prometheus text exposition format (version 0.0.4); `extra`: lines rendered already
    (`queue_lines`)."""
    lines = [
        "# HELP codex_manager_http_requests_total HTTP requests by method and status.",
        "# TYPE codex_manager_http_requests_total counter",
    ]
    for (method, status), count in sorted(metrics.requests.items()):
        lines.append(
            _line("codex_manager_http_requests_total", count, {"method": method, "status": status})
        )
    lines += [
        "# TYPE codex_manager_http_request_seconds_total counter",
        _line("codex_manager_http_request_seconds_total", round(metrics.request_seconds, 6)),
        "# TYPE codex_manager_websocket_connections_total counter",
        _line("codex_manager_websocket_connections_total", metrics.websocket_connections),
        "# TYPE codex_manager_websocket_open gauge",
        _line("codex_manager_websocket_open", metrics.websocket_open),
        "# TYPE codex_manager_websocket_lagged_total counter",
        _line("codex_manager_websocket_lagged_total", metrics.websocket_lagged),
        "# TYPE codex_manager_websocket_disconnected_slow_total counter",
        _line(
            "codex_manager_websocket_disconnected_slow_total", metrics.websocket_disconnected_slow
        ),
        "# TYPE codex_manager_websocket_frames_sent_total counter",
        _line("codex_manager_websocket_frames_sent_total", metrics.frames_sent),
    ]
    for name, (kind, help_text, value, labels) in figures.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        if isinstance(value, dict):
            for label_value, number in value.items():
                lines.append(_line(name, number, {labels: label_value}))
        else:
            lines.append(_line(name, value))
    lines += extra or []
    return "\n".join(lines) + "\n"

"""What an extension sees: the registry it subscribes with, the event a handler gets, the
toolbox it may use, and what a handler may return.

An extension is a Python module (a folder with an `extension.toml`, or an installed
package) exposing `register(registry)`:

    from codex_manager_core.extensions import ActionRequest, ExtensionEvent, Toolbox

    def register(registry):
        registry.on("file_change.approval_requested", review, priority=50, timeout=20)

    async def review(event: ExtensionEvent, tools: Toolbox):
        settings = await tools.session_settings()
        if settings.get("autoApprove"):
            return ActionRequest("approval.decide", {"approvalId": event.payload["approvalId"],
                                                     "decision": "accept"})

This module is the contract between the core and extensions, in-process or isolated in a
subprocess (whose host speaks it over JSON-RPC): plain frozen values and one protocol, so
nothing of the core's inside leaks to an extension.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol, TypeAlias

import attrs

from codex_manager_core.models import JsonObject, JsonValue

CORE_API_VERSION: Final = 1
"""The extension API's major version: a manifest's `runtime.coreApiVersion` must equal it."""
CORE_API_FULL_VERSION: Final = "1.0.0"
"""Checked against a manifest's `runtime.coreApiVersionRange` (a semver range)."""
RUNTIME_PROFILE: Final = ("codex-manager", "1.0.0")
"""The runtime profile (name, version) a manifest's `runtime.profiles` may name."""

DEFAULT_PRIORITY: Final = 100
DEFAULT_TIMEOUT: Final = 30.0

# ---------------------------------------------------------------- events

SYNTHESIZED_EVENTS: Final = (
    "file_change.approval_requested",
    "turn.completed",
    "suggest_request.requested",
    "approval.requested",
    "approval.resolved",
)
"""The events the core synthesizes for extensions; besides them, `app_server.<method>` and
`app_server.request.<method>` pass through for user (not system-owned) sessions."""


@attrs.frozen
class EventContext:
    """Where an event happened: what the actions its handlers request are locked to."""

    project_id: str | None = None
    session_id: str | None = None
    turn_id: str | None = None


@attrs.frozen
class ExtensionEvent:
    """One event as handlers get it (the original's `{type, payload, emittedAt,
    correlationId}`, plus the context the core derived from it)."""

    type: str
    payload: JsonObject
    context: EventContext = EventContext()
    emitted_at: datetime | None = None
    correlation_id: str | None = None
    """The ledger sequence number of the event it comes from, as a string (stable across
    re-emits of one event, so a handler may use it in idempotency keys)."""


# ---------------------------------------------------------------- what a handler returns


@attrs.frozen
class HandlerResult:
    """A handler reports something without asking for anything (the original's
    `{kind: "handler_result", details}`)."""

    details: JsonValue = None


@attrs.frozen
class ActionRequest:
    """Ask the core to perform an action in the event's scope (the original's
    `{kind: "action_request", actionType, payload, requestId?, idempotencyKey?}`).
    `action_type`: transcript.upsert, approval.decide, turn.steer.create, queue.enqueue,
    session.rename (see docs/extensions.md). Handlers never act themselves."""

    action_type: str
    payload: JsonObject
    request_id: str | None = None
    idempotency_key: str | None = None


class EnqueueStatus(enum.StrEnum):
    ENQUEUED = "enqueued"
    ALREADY_QUEUED = "already_queued"


@attrs.frozen
class EnqueueResult:
    """What `Toolbox.enqueue_job` answers; a handler may return it as its result."""

    status: EnqueueStatus
    job_id: str
    job_type: str


HandlerReturn: TypeAlias = EnqueueResult | HandlerResult | ActionRequest | None
"""What a handler may return (a `Mapping` with the original's `kind` is accepted too)."""

# ---------------------------------------------------------------- the toolbox


class Toolbox(Protocol):
    """What a handler may use while it runs. It is scoped to the event (its session and
    project) and invalid once the handler has returned or timed out: a late call raises
    `ToolboxClosed`."""

    async def enqueue_job(
        self,
        type: str,
        payload: JsonObject,
        *,
        priority: str | None = None,
    ) -> EnqueueResult:
        """Enqueue a job for the event's owner (its project, else `session:<id>`)."""
        ...

    async def session_settings(self) -> JsonObject:
        """The event's session's settings document (`{}` if it has none)."""
        ...

    async def session_setting(self, key: str) -> JsonValue:
        """One top-level key of the event's session's settings (None if unset)."""
        ...

    @property
    def logger(self) -> logging.Logger:
        """A logger named after the extension."""
        ...


Handler: TypeAlias = Callable[
    [ExtensionEvent, Toolbox],
    "Awaitable[HandlerReturn | Mapping[str, Any]] | HandlerReturn | Mapping[str, Any]",
]
"""`async def handler(event, tools) -> HandlerReturn`; a plain function runs in a worker
thread (its toolbox calls then block that thread until the core answers)."""


@attrs.frozen
class Subscription:
    """One `registry.on(...)`: the order of dispatch is (priority, module, index)."""

    event_type: str
    handler: Handler
    priority: int = DEFAULT_PRIORITY
    timeout: float = DEFAULT_TIMEOUT
    index: int = 0


class ExtensionRegistry:
    """What `register(registry)` is given: subscribe handlers to event types."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.subscriptions: list[Subscription] = []

    def on(
        self,
        event_type: str,
        handler: Handler,
        *,
        priority: int = DEFAULT_PRIORITY,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Handler:
        """Subscribe `handler` to `event_type` (an exact type, or a prefix ending in `*`
        such as `app_server.item.*`). Lower priorities run first. `timeout` seconds: a
        handler past it is cancelled, not left running. Returns the handler, so it can be
        used as `@registry.on(...)`'s target too."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"priority must be an integer, got {priority!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.subscriptions.append(
            Subscription(event_type, handler, priority, float(timeout), len(self.subscriptions))
        )
        return handler


class ToolboxClosed(RuntimeError):
    """A toolbox used after its handler returned or timed out."""


__all__ = [
    "CORE_API_FULL_VERSION",
    "CORE_API_VERSION",
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEOUT",
    "RUNTIME_PROFILE",
    "SYNTHESIZED_EVENTS",
    "ActionRequest",
    "EnqueueResult",
    "EnqueueStatus",
    "EventContext",
    "ExtensionEvent",
    "ExtensionRegistry",
    "Handler",
    "HandlerResult",
    "HandlerReturn",
    "Subscription",
    "Toolbox",
    "ToolboxClosed",
]

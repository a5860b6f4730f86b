"""`ScopedToolbox`: the `api.Toolbox` one handler call gets, scoped to its event.

It enqueues jobs for the event's owner (its project, else `session:<sessionId>`) with the
event's session as the source, reads the event's session's settings (the original's
handlers could not: ours can) and logs as `codex_manager.extensions.<module>`. The
dispatcher closes it when the handler returns or times out: a late call raises
`ToolboxClosed`.

A sync handler runs in a worker thread; it calls the toolbox through the event loop, e.g.
`anyio.from_thread.run(tools.session_settings)`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from codex_manager_core.errors import InvalidInput
from codex_manager_core.extensions.api import (
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    ToolboxClosed,
)
from codex_manager_core.models import JsonObject, JsonValue

LOGGER_PREFIX = "codex_manager.extensions."


class JobsPort(Protocol):
    """What the toolbox needs of `manager.jobs`."""

    async def enqueue(
        self,
        type: str,
        payload: Any,
        *,
        owner: str,
        source_session_id: str | None = None,
        priority: Any = None,
    ) -> Any: ...


class SettingsPort(Protocol):
    """What the toolbox needs of `manager.settings`."""

    async def get(self, session_id: str, *, scope: str = "session") -> dict[str, Any]: ...


def owner_of(context: EventContext) -> str | None:
    """The queue owner an event acts for: its project, else `session:<id>`."""
    if context.project_id:
        return context.project_id
    if context.session_id:
        return f"session:{context.session_id}"
    return None


class ScopedToolbox:
    """One handler call's toolbox (see the module docstring)."""

    def __init__(
        self,
        module: str,
        context: EventContext,
        *,
        jobs: JobsPort,
        settings: SettingsPort,
    ) -> None:
        self._module = module
        self._context = context
        self._jobs = jobs
        self._settings = settings
        self._logger = logging.getLogger(LOGGER_PREFIX + module)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def _check(self, what: str) -> None:
        if self._closed:
            raise ToolboxClosed(
                f"{what}: the toolbox of extension {self._module!r} is closed (its handler "
                "returned or timed out)"
            )

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def enqueue_job(
        self,
        type: str,
        payload: JsonObject,
        *,
        priority: str | None = None,
    ) -> EnqueueResult:
        self._check("enqueue_job")
        owner = owner_of(self._context)
        if owner is None:
            raise InvalidInput(
                "enqueue_job: the event has no project and no session to enqueue for",
                issues=[{"path": ["owner"], "message": "the event names no project or session"}],
            )
        enqueued = await self._jobs.enqueue(
            type,
            payload,
            owner=owner,
            source_session_id=self._context.session_id,
            priority=priority,
        )
        status = (
            EnqueueStatus.ENQUEUED
            if enqueued.outcome == "enqueued"
            else EnqueueStatus.ALREADY_QUEUED
        )
        return EnqueueResult(status, str(enqueued.job.job_id), str(enqueued.job.type))

    async def session_settings(self) -> JsonObject:
        self._check("session_settings")
        session_id = self._context.session_id
        if session_id is None:
            return {}
        settings = await self._settings.get(session_id)
        self._check("session_settings")
        return dict(settings)

    async def session_setting(self, key: str) -> JsonValue:
        settings = await self.session_settings()
        value: JsonValue = settings.get(key)
        return value


__all__ = ["LOGGER_PREFIX", "JobsPort", "ScopedToolbox", "SettingsPort", "owner_of"]

"""The protocol of `manager.extensions`: the loaded extensions, (re)loading them, and the
audit of every attempt (docs/extensions.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from codex_manager_core.extensions.api import Subscription
    from codex_manager_core.extensions.model import LoadedExtension, Snapshot
    from codex_manager_core.models import JsonObject
    from codex_manager_core.ports.store import AuditRecord


class ExtensionsApi(Protocol):
    """`manager.extensions`."""

    def snapshot(self) -> Snapshot:
        """What is loaded now (swapped in whole by a successful load)."""
        ...

    def subscriptions_for(self, event_type: str) -> list[tuple[LoadedExtension, Subscription]]:
        """The handlers of `event_type` in dispatch order (priority, module name, index)."""
        ...

    def action_allowed(
        self, extension: LoadedExtension, action_type: str
    ) -> tuple[bool, str | None]:
        """Trust for actions: (allowed, warning or refusal message)."""
        ...

    async def load_initial(self) -> Snapshot:
        """The lenient first load (the Manager calls it when it opens)."""
        ...

    async def reload(
        self,
        *,
        actor: str = "system",
        role: str = "system",
        origin: JsonObject | None = None,
        reload_id: str | None = None,
    ) -> Snapshot:
        """Strict, atomic reload of everything: ReloadFailed keeps the previous snapshot;
        Conflict `reload_in_progress` while another runs."""
        ...

    async def reload_one(
        self,
        name: str,
        *,
        actor: str = "system",
        role: str = "system",
        origin: JsonObject | None = None,
    ) -> Snapshot:
        """Strict, atomic reload of one loaded extension (NotFound `unknown_extension`)."""
        ...

    async def load_path(
        self, path: str | Path, *, actor: str = "embedded", role: str = "system"
    ) -> LoadedExtension:
        """Load one extension folder (origin `embedded`), strictly."""
        ...

    async def audit(self, limit: int = 100) -> list[AuditRecord]:
        """The newest audit records of (re)load attempts, newest first."""
        ...

    async def record_denied(
        self,
        *,
        actor: str,
        role: str,
        origin: JsonObject | None = None,
        reason: str,
        reload_id: str | None = None,
    ) -> None:
        """Audit a reload refused by the HTTP RBAC (result `forbidden`)."""
        ...


__all__ = ["ExtensionsApi"]

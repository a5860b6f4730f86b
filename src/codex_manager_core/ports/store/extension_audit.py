"""Store domain "extension_audit": one record per extension load or reload attempt
(success, failed, forbidden), with the original's fields. Bounded: a `PutAuditRecord`
keeps the newest `keep` records and deletes the older ones in the same batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeAlias

import attrs


@attrs.frozen
class AuditRecord:
    reload_id: str
    recorded_at: datetime
    actor_role: str
    actor_id: str
    result: str
    """success | failed | forbidden."""
    trust_mode: str
    request_origin: dict[str, Any] = attrs.field(factory=dict)
    """`{ip, userAgent}` of an HTTP request; `{}` for an embedded call."""
    snapshot_before: str | None = None
    """The snapshot version before the attempt (None: nothing loaded yet)."""
    snapshot_after: str | None = None
    """The snapshot version after it (the same as before when it failed)."""
    error_summary: str | None = None
    impacted_extensions: tuple[str, ...] = ()
    """Module names the attempt loaded, or those that failed it."""


@attrs.frozen
class PutAuditRecord:
    """Append a record, then keep only the newest `keep` (by insertion order)."""

    record: AuditRecord
    keep: int = 1000


ExtensionAuditMutation: TypeAlias = PutAuditRecord


class ExtensionAuditReads(Protocol):
    async def list_extension_audit(self, limit: int = 100) -> list[AuditRecord]:
        """The newest `limit` records, newest first."""
        ...


__all__ = ["AuditRecord", "ExtensionAuditMutation", "ExtensionAuditReads", "PutAuditRecord"]

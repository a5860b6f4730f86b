"""Store domain "actions": the receipts that make an action idempotent.

An action executed with an idempotency key leaves a receipt (the key, a fingerprint of what
was asked, the result given). The same key asked again is answered from the receipt instead
of acting twice. `PutActionReceipt` only inserts: a key already present fails the batch with
StoreConflict, so of two writers racing for one key exactly one receipt wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeAlias

import attrs


@attrs.frozen
class ActionReceipt:
    key: str
    """The caller's idempotency key."""
    fingerprint: str
    """A hash of (kind, payload, scope): the same key for something else is a conflict."""
    result: dict[str, Any]
    """The `ActionResult` as JSON."""
    created_at: datetime


@attrs.frozen
class PutActionReceipt:
    """Insert a receipt. An existing receipt with the same key fails the batch with
    StoreConflict (key "action receipt <key>"), nothing written."""

    receipt: ActionReceipt


ActionMutation: TypeAlias = PutActionReceipt


class ActionReads(Protocol):
    async def get_action_receipt(self, key: str) -> ActionReceipt | None: ...


__all__ = ["ActionMutation", "ActionReads", "ActionReceipt", "PutActionReceipt"]

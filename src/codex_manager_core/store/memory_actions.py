"""MemoryStore, domain "actions": the receipts of idempotent actions, kept beside
`memory.py`. Receipts go through the same JSON and time encoding as in `SqliteStore`, so a
read returns what SQLite would return; writes go through the batch's `Undo` log."""

from __future__ import annotations

from codex_manager_core.ports.store.actions import ActionReceipt, PutActionReceipt
from codex_manager_core.ports.store.errors import StoreConflict
from codex_manager_core.store import codec
from codex_manager_core.store.memory_undo import Undo


class MemoryActions:
    """The `action_receipts` table of a MemoryStore: key -> receipt."""

    def __init__(self) -> None:
        self._receipts: dict[str, ActionReceipt] = {}

    def mutate(self, mutation: PutActionReceipt, undo: Undo) -> None:
        receipt = mutation.receipt
        key = codec.check_str(receipt.key, "action_receipt.key")
        if key in self._receipts:
            raise StoreConflict(f"action receipt {key}", "present", ["missing"])
        canonical = ActionReceipt(
            key=key,
            fingerprint=codec.check_str(receipt.fingerprint, "action_receipt.fingerprint"),
            result=codec.load_json_or_none(
                codec.dump_json(dict(receipt.result), "action_receipt.result")
            ),
            created_at=codec.dec_dt(codec.enc_dt(receipt.created_at, "action_receipt.created_at")),
        )
        undo.set(self._receipts, key, canonical)

    def get(self, key: str) -> ActionReceipt | None:
        return self._receipts.get(key)


__all__ = ["MemoryActions"]

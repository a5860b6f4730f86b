"""MemoryStore, domain "extension_audit": the audit of extension (re)loads, kept beside
`memory.py`. Records go through the SQLite adapter's row encoding (`extension_audit_rows`), so a read returns what
SQLite would return; writes go through the batch's `Undo` log."""

from __future__ import annotations

from codex_manager_core.ports.store.extension_audit import AuditRecord, PutAuditRecord
from codex_manager_core.store.extension_audit_rows import decode, encode
from codex_manager_core.store.memory_undo import Undo


class MemoryExtensionAudit:
    """The `extension_audit` table of a MemoryStore: seq -> record."""

    def __init__(self) -> None:
        self._records: dict[int, AuditRecord] = {}
        self._next = 1

    def mutate(self, mutation: PutAuditRecord, undo: Undo) -> None:
        keep = mutation.keep
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"audit keep must be a positive integer, got {keep!r}")
        canonical = decode(encode(mutation.record))
        seq = self._next
        self._next += 1  # like AUTOINCREMENT: a rolled-back seq is not reused
        undo.set(self._records, seq, canonical)
        for old in sorted(self._records)[:-keep]:
            undo.delete(self._records, old)

    def newest(self, limit: int) -> list[AuditRecord]:
        return [self._records[seq] for seq in sorted(self._records, reverse=True)[: max(0, limit)]]


__all__ = ["MemoryExtensionAudit"]
